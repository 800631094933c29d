"""TLS contexts: pyftpdlib-style settings, version floor, safe options, strict SNI,
ready-made contexts (stdlib, pyOpenSSL, factories) and the self-signed certificate."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import logging
import os
import re
import ssl
import stat
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio
import trio.testing
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

from trioftp.handlers import TLS_FTPHandler
from trioftp.tls.certificates import fingerprint, self_signed_certificate
from trioftp.tls.contexts import (
    SAFE_OPTIONS,
    InsecureProtocol,
    TLSSettings,
    UseCertificateOf,
    build_context,
    certified_context,
    protocol_versions,
    session_context,
)
from trioftp.tls.sni import ServerNameRouter

from ..support.ftpclient import read_all
from ..support.servers import RunningServer
from ..support.tlsclient import Certs, Tap, TLSClient, client_context, make_certs, reset_connection

StartServer = Callable[..., Awaitable[RunningServer]]

DONE = "226 Transfer complete."
NEWEST = (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.MAXIMUM_SUPPORTED)
MARKER = b"<<CONTEXT-PLAINTEXT-MARKER>>"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


async def connect(server: RunningServer, context: ssl.SSLContext, **kwargs: object) -> TLSClient:
    client, greeting = await TLSClient.open(server.host, server.port, context, **kwargs)  # type: ignore[arg-type]
    assert greeting.code == 220, greeting
    return client


# --- ssl_protocol


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [
        (None, NEWEST),
        (SSL.SSLv23_METHOD, NEWEST),
        (SSL.TLS_METHOD, NEWEST),
        (SSL.TLS_SERVER_METHOD, NEWEST),
        (SSL.TLSv1_2_METHOD, (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)),
        (ssl.PROTOCOL_TLS_SERVER, NEWEST),
        (ssl.PROTOCOL_TLS, NEWEST),
    ],
)
def test_protocol_versions(protocol: object, expected: tuple[ssl.TLSVersion, ...]) -> None:
    assert protocol_versions(protocol) == expected


@pytest.mark.parametrize(
    "protocol", [SSL.TLSv1_METHOD, SSL.TLSv1_1_METHOD, ssl.PROTOCOL_TLSv1, ssl.PROTOCOL_TLSv1_1]
)
def test_old_protocols_are_refused(protocol: object) -> None:
    with pytest.raises(InsecureProtocol, match=r"TLS 1\.2 or newer"):
        protocol_versions(protocol)
    assert issubclass(InsecureProtocol, ValueError)


def test_protocol_of_the_wrong_type() -> None:
    with pytest.raises(TypeError):
        protocol_versions("TLSv1.2")


def test_built_context_defaults(certs: Certs) -> None:
    context = build_context(TLSSettings(certs.certfile, certs.keyfile))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.maximum_version == ssl.TLSVersion.MAXIMUM_SUPPORTED
    for option in (
        ssl.OP_NO_COMPRESSION,
        ssl.OP_CIPHER_SERVER_PREFERENCE,
        ssl.OP_IGNORE_UNEXPECTED_EOF,
    ):
        assert context.options & option == option
    assert SAFE_OPTIONS & ssl.OP_IGNORE_UNEXPECTED_EOF
    assert context.sni_callback is None
    # The key may sit in the certificate file (pyftpdlib's usual keycert.pem).
    assert build_context(TLSSettings(certs.combined)).minimum_version == ssl.TLSVersion.TLSv1_2


def test_pyopenssl_options_are_applied(certs: Certs) -> None:
    options = SSL.OP_NO_SSLv2 | SSL.OP_NO_SSLv3 | SSL.OP_NO_COMPRESSION | SSL.OP_NO_TICKET
    context = build_context(TLSSettings(certs.certfile, certs.keyfile, SSL.SSLv23_METHOD, options))
    assert context.options & ssl.OP_NO_SSLv3
    assert context.options & ssl.OP_NO_COMPRESSION
    assert context.options & ssl.OP_NO_TICKET
    # The floor and the safe options stay whatever was asked.
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.options & SAFE_OPTIONS == SAFE_OPTIONS
    plain = build_context(TLSSettings(certs.certfile, certs.keyfile))
    assert not plain.options & ssl.OP_NO_TICKET


def test_tls12_method_pins_the_version(certs: Certs) -> None:
    context = build_context(TLSSettings(certs.certfile, certs.keyfile, SSL.TLSv1_2_METHOD))
    assert context.minimum_version == context.maximum_version == ssl.TLSVersion.TLSv1_2


async def test_tls12_method_on_a_running_server(start_server: StartServer, certs: Certs) -> None:
    server = await start_server(
        base=TLS_FTPHandler,
        certfile=certs.certfile,
        keyfile=certs.keyfile,
        ssl_protocol=SSL.TLSv1_2_METHOD,
    )
    client = await connect(server, client_context(certs.ca))
    await client.secure()
    assert client.control_tls is not None
    assert client.control_tls.version() == "TLSv1.2"
    (server.home / "a.txt").write_bytes(b"data")
    _, received, final = await client.download("RETR a.txt")
    assert (received, final.first) == (b"data", DONE)


def _old_client(ca_certs: Certs, version: ssl.TLSVersion) -> ssl.SSLContext:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context = client_context(ca_certs.ca, minimum_version=version, maximum_version=version)
    # The client's own security level would forbid TLS 1.0/1.1: lift it, so
    # the refusal comes from the server.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
async def test_old_tls_clients_are_refused(
    start_server: StartServer, certs: Certs, version: str
) -> None:
    tls_version = getattr(ssl.TLSVersion, version)
    context = _old_client(certs, tls_version)
    # Control: a server that allows old versions does speak them with this client.
    permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    permissive.load_cert_chain(certs.certfile, certs.keyfile)
    permissive.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        permissive.minimum_version = ssl.TLSVersion.TLSv1
    left, right = trio.testing.memory_stream_pair()
    server_side = trio.SSLStream(left, permissive, server_side=True)
    client_side = trio.SSLStream(right, context, server_hostname="127.0.0.1")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server_side.do_handshake)
        nursery.start_soon(client_side.do_handshake)
    assert client_side.version() == version.replace("_", ".")
    # The FTPS server refuses the same client.
    server = await start_server(base=TLS_FTPHandler, certfile=certs.certfile, keyfile=certs.keyfile)
    client = await connect(server, context)
    assert (await client.cmd("AUTH TLS")).code == 234
    with pytest.raises(trio.BrokenResourceError):
        await client.start_tls()
    # ...and ends the session.
    assert await client.transport.receive_some(65536) == b""
    # A TLS 1.2 client is fine.
    modern = await connect(server, client_context(certs.ca))
    await modern.secure()


# --- strict SNI


@pytest.mark.parametrize(
    ("server_hostname", "accepted"),
    [("localhost", True), ("LOCALHOST.", True), ("127.0.0.1", True), ("evil.example", False)],
)
async def test_strict_sni(
    start_server: StartServer,
    certs: Certs,
    server_hostname: str,
    accepted: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="trioftp")
    server = await start_server(
        base=TLS_FTPHandler,
        certfile=certs.certfile,
        keyfile=certs.keyfile,
        tls_sni_hosts=["localhost"],
    )
    context = client_context(certs.ca)
    context.check_hostname = False  # the certificate doesn't name evil.example
    client = await connect(server, context, server_hostname=server_hostname)
    assert (await client.cmd("AUTH TLS")).code == 234
    if accepted:
        await client.start_tls()
        assert (await client.cmd("NOOP")).code == 200
    else:
        # trio.SSLStream sends no alert: the client just sees the connection end.
        with pytest.raises(trio.BrokenResourceError):
            await client.start_tls()
        assert await client.transport.receive_some(65536) == b""
    failed = [
        r
        for r in caplog.records
        if "TLS handshake on the control connection failed" in r.getMessage()
    ]
    assert len(failed) == (0 if accepted else 1)


async def test_sni_not_checked_by_default(start_server: StartServer, certs: Certs) -> None:
    server = await start_server(base=TLS_FTPHandler, certfile=certs.certfile, keyfile=certs.keyfile)
    context = client_context(certs.ca)
    context.check_hostname = False
    client = await connect(server, context, server_hostname="evil.example")
    await client.auth()
    assert (await client.cmd("NOOP")).code == 200


def test_sni_hosts_install_a_callback(certs: Certs) -> None:
    context = build_context(TLSSettings(certs.certfile, certs.keyfile, sni_hosts=["Localhost"]))
    check = context.sni_callback
    assert check is not None
    assert check(None, "localhost", context) is None  # type: ignore[arg-type]
    assert check(None, None, context) is None  # type: ignore[arg-type]
    assert check(None, "other", context) == ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME  # type: ignore[arg-type]


class _Connection:
    """What an SNI callback sees of a connection: its context, which it may replace."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context


def test_session_contexts_present_one_shared_certificate(certs: Certs) -> None:
    settings = TLSSettings(certs.certfile, certs.keyfile, sni_hosts=["localhost"])
    certified = certified_context(settings)
    assert certified_context(settings) is certified  # the key is parsed once
    first = session_context(settings, UseCertificateOf(certified, settings.sni_hosts))
    second = session_context(settings, UseCertificateOf(certified, settings.sni_hosts))
    assert first is not second  # a session cache each: the data-session binding
    assert first.options & ssl.OP_NO_TICKET
    assert first.minimum_version == ssl.TLSVersion.TLSv1_2
    assert first.options & SAFE_OPTIONS == SAFE_OPTIONS
    switch = first.sni_callback
    assert switch is not None
    for name in ("LocalHost.", None):
        connection = _Connection(first)
        assert switch(connection, name, first) is None  # type: ignore[arg-type]
        assert connection.context is certified
    connection = _Connection(first)
    assert switch(connection, "other", first) == ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME  # type: ignore[arg-type]
    assert connection.context is first


def test_certified_context_is_loaded_again_when_its_files_change(
    certs: Certs, tmp_path: Path
) -> None:
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    _install(certs, certfile, keyfile)
    settings = TLSSettings(str(certfile), str(keyfile))
    before = certified_context(settings)
    assert certified_context(settings) is before
    _install(make_certs(tmp_path / "renewed"), certfile, keyfile)
    assert certified_context(settings) is not before


def test_a_half_done_renewal_keeps_the_last_good_context(
    certs: Certs, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    _install(certs, certfile, keyfile)
    settings = TLSSettings(str(certfile), str(keyfile))
    before = certified_context(settings)
    renewed = make_certs(tmp_path / "renewed")
    staged = certfile.with_suffix(".new")  # the new certificate, the old key still in place
    staged.write_bytes(Path(renewed.certfile).read_bytes())
    os.replace(staged, certfile)
    with caplog.at_level(logging.WARNING, logger="trioftp"):
        assert certified_context(settings) is before
    assert f"TLS certificate {certfile} not reloaded" in caplog.text
    _install(renewed, certfile, keyfile)  # the key follows: the new pair is used
    assert certified_context(settings) is not before


def _install(certs: Certs, certfile: Path, keyfile: Path) -> None:
    """Put *certs*' files in place the way renewal tools do: new files renamed over."""
    for source, target in ((certs.certfile, certfile), (certs.keyfile, keyfile)):
        staged = target.with_suffix(".new")
        staged.write_bytes(Path(source).read_bytes())
        os.replace(staged, target)


async def test_a_renewed_certificate_is_presented_from_the_next_login(
    start_server: StartServer, certs: Certs, tmp_path: Path
) -> None:
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    _install(certs, certfile, keyfile)
    server = await start_server(base=TLS_FTPHandler, certfile=str(certfile), keyfile=str(keyfile))
    before = await connect(server, client_context(certs.ca))
    await before.auth()
    renewed = make_certs(tmp_path / "renewed")
    _install(renewed, certfile, keyfile)
    after = await connect(server, client_context(renewed.ca))
    await after.auth()
    assert before.control_tls is not None
    assert after.control_tls is not None
    assert after.control_tls.getpeercert(binary_form=True) == _der(renewed.certfile)
    # The session that began before the renewal keeps its certificate.
    assert before.control_tls.getpeercert(binary_form=True) == _der(certs.certfile)
    assert (await before.login()).code == 230


def _der(certfile: str) -> bytes:
    return _load(Path(certfile)).public_bytes(serialization.Encoding.DER)


def test_router_fallback_serves_handshakes_without_a_route(certs: Certs) -> None:
    settings = TLSSettings(certs.certfile, certs.keyfile)
    routed, fallback = build_context(settings), build_context(settings)
    router = ServerNameRouter({"ftp.example": ("site", routed)})
    session = session_context(settings, router.with_fallback(fallback))
    switch = session.sni_callback
    assert switch is not None
    assert switch is not router
    for name, expected in (("FTP.example", routed), ("other.example", fallback), (None, fallback)):
        connection = _Connection(session)
        assert switch(connection, name, session) is None  # type: ignore[arg-type]
        assert connection.context is expected
    assert router.route_of(routed) == "site"
    assert router.route_of(fallback) is None
    # The router itself (shared by the handler's sessions) keeps no fallback.
    connection = _Connection(routed)
    assert router(connection, None, routed) is None  # type: ignore[arg-type]
    assert connection.context is routed


# --- ready contexts


def _stdlib_context(certs: Certs) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.certfile, certs.keyfile)
    return context


def _pyopenssl_context(certs: Certs) -> SSL.Context:
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.use_certificate_chain_file(certs.certfile)
    context.use_privatekey_file(certs.keyfile)
    return context


async def _transfers_and_ccc(server: RunningServer, client: TLSClient) -> None:
    """PROT P RETR/STOR/LIST over the given context, then CCC, then one more RETR."""
    data = b"".join(MARKER + bytes([i]) * 1000 for i in range(200))
    (server.home / "a.bin").write_bytes(data)
    await client.secure()
    assert (await client.cmd("TYPE I")).code == 200
    taps: list[Tap] = []
    _, received, final = await client.download("RETR a.bin", tap=taps)
    assert (received, final.first) == (data, DONE)
    assert MARKER not in taps[-1].received
    _, final = await client.upload("STOR b.bin", data, mode="PORT", tap=taps)
    assert final.first == DONE
    assert MARKER not in taps[-1].sent
    assert (server.home / "b.bin").read_bytes() == data
    _, listing, final = await client.download("NLST", mode="EPSV")
    assert final.first == DONE
    assert sorted(listing.split()) == [b"a.bin", b"b.bin"]
    await client.ccc()
    await client.transport.send_all(b"NOOP\r\n")
    assert (await client.reply()).code == 200
    _, received, final = await client.download("RETR a.bin", mode="EPRT", tap=taps)
    assert (received, final.first) == (data, DONE)
    assert MARKER not in taps[-1].received


async def test_stdlib_ssl_context(start_server: StartServer, certs: Certs) -> None:
    server = await start_server(base=TLS_FTPHandler, ssl_context=_stdlib_context(certs))
    client = await connect(server, client_context(certs.ca))
    await _transfers_and_ccc(server, client)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_pyopenssl_context(
    start_server: StartServer, certs: Certs, version: ssl.TLSVersion
) -> None:
    server = await start_server(base=TLS_FTPHandler, ssl_context=_pyopenssl_context(certs))
    context = client_context(certs.ca, minimum_version=version, maximum_version=version)
    client = await connect(server, context)
    await _transfers_and_ccc(server, client)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_pyopenssl_context_data_connection_ends(
    start_server: StartServer, certs: Certs, version: ssl.TLSVersion
) -> None:
    """close_notify after downloads; a bare FIN ends an upload; a reset one is not complete."""
    server = await start_server(base=TLS_FTPHandler, ssl_context=_pyopenssl_context(certs))
    context = client_context(certs.ca, minimum_version=version, maximum_version=version)
    client = await connect(server, context)
    await client.secure()
    assert (await client.cmd("TYPE I")).code == 200
    (server.home / "a.bin").write_bytes(b"abc" * 1000)
    stream = await client.pasv()
    assert (await client.cmd("RETR a.bin")).code in (125, 150)
    tls = await client.wrap_data(stream)
    assert await read_all(tls) == b"abc" * 1000  # no BrokenResourceError: close_notify came
    assert (await client.reply()).first == DONE
    # Bare FIN.
    stream = await client.pasv()
    assert (await client.cmd("STOR fin.bin")).code in (125, 150)
    tls = await client.wrap_data(stream)
    await tls.send_all(b"finished" * 5000)
    await stream.aclose()
    assert (await client.reply()).first == DONE
    assert (server.home / "fin.bin").read_bytes() == b"finished" * 5000
    # Reset.
    stream = await client.pasv()
    assert (await client.cmd("STOR reset.bin")).code in (125, 150)
    tls = await client.wrap_data(stream)
    await tls.send_all(b"partial")
    with trio.fail_after(10):
        while not any("7 bytes transmitted" in line for line in (await client.cmd("STAT")).lines):
            pass
    reset_connection(stream)
    final = await client.reply()
    assert final.first == (
        "426 Connection closed; transfer aborted, partial file kept (7 bytes received)."
    )


async def test_pyopenssl_context_with_implicit_ftps(
    start_server: StartServer, certs: Certs
) -> None:
    server = await start_server(
        base=TLS_FTPHandler, ssl_context=_pyopenssl_context(certs), tls_implicit=True
    )
    client = await connect(server, client_context(certs.ca), implicit=True)
    await client.login()
    (server.home / "a.txt").write_bytes(b"implicit")
    _, received, final = await client.download("RETR a.txt")
    assert (received, final.first) == (b"implicit", DONE)


async def test_pyopenssl_context_failed_data_handshake(
    start_server: StartServer, certs: Certs
) -> None:
    server = await start_server(base=TLS_FTPHandler, ssl_context=_pyopenssl_context(certs))
    client = await connect(server, client_context(certs.ca))
    await client.secure()
    (server.home / "a.txt").write_bytes(b"x")
    stream = await client.pasv()
    assert (await client.cmd("RETR a.txt")).code in (125, 150)
    await stream.send_all(b"GARBAGE GARBAGE GARBAGE\r\n")
    assert (await client.reply()).first == "425 TLS negotiation on the data connection failed."


async def test_context_factory_is_called_once_per_session(
    start_server: StartServer, certs: Certs
) -> None:
    made: list[ssl.SSLContext] = []

    def factory() -> ssl.SSLContext:
        made.append(_stdlib_context(certs))
        return made[-1]

    server = await start_server(
        base=TLS_FTPHandler, ssl_context=factory, tls_data_session_binding="required"
    )
    (server.home / "a.txt").write_bytes(b"per session")
    assert made == []
    clients = []
    for expected in (1, 2):
        client = await connect(server, client_context(certs.ca))
        await client.secure()
        assert len(made) == expected
        clients.append(client)
    for client in clients:
        for _ in range(2):
            _, received, final = await client.download("RETR a.txt", resume=True)
            assert (received, final.first) == (b"per session", DONE)
    assert len(made) == 2
    # Each session has its own context: one session's TLS session is foreign to the other.
    first, second = clients
    stream = await first.pasv()
    assert (await first.cmd("RETR a.txt")).code in (125, 150)
    with pytest.raises(trio.BrokenResourceError):
        await read_all(await second.wrap_data(stream, session=second.session))
    assert (await first.reply()).first == (
        "522 Data connection must reuse the control connection's TLS session."
    )


async def test_shared_context_with_required_binding_warns_once(
    start_server: StartServer, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(
        base=TLS_FTPHandler,
        ssl_context=_stdlib_context(certs),
        tls_data_session_binding="required",
    )
    (server.home / "a.txt").write_bytes(b"shared")
    for _ in range(2):
        client = await connect(server, client_context(certs.ca))
        await client.secure()
        _, received, final = await client.download("RETR a.txt", resume=True)
        assert (received, final.first) == (b"shared", DONE)
    warned = [r for r in caplog.records if "one shared ssl_context" in r.getMessage()]
    assert len(warned) == 1
    assert warned[0].levelno == logging.WARNING


async def test_unusable_certificate_is_refused_before_234(
    start_server: StartServer, certs: Certs, tmp_path: Path
) -> None:
    """A certificate that can't be loaded: AUTH fails with a reply; the session goes on."""
    server = await start_server(base=TLS_FTPHandler, certfile=str(tmp_path / "missing.pem"))
    client = await connect(server, client_context(certs.ca))
    reply = await client.cmd("AUTH TLS")
    assert reply.code == 431, reply
    assert (await client.cmd("NOOP")).code == 200
    assert (await client.login()).code == 230


async def test_insecure_ssl_protocol_is_refused_before_234(
    start_server: StartServer, certs: Certs
) -> None:
    server = await start_server(
        base=TLS_FTPHandler,
        certfile=certs.certfile,
        keyfile=certs.keyfile,
        ssl_protocol=SSL.TLSv1_METHOD,
    )
    client = await connect(server, client_context(certs.ca))
    assert (await client.cmd("AUTH TLS")).code == 431
    assert (await client.cmd("NOOP")).code == 200


# --- the self-signed certificate


FINGERPRINT = re.compile(r"(?:[0-9A-F]{2}:){31}[0-9A-F]{2}")


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_self_signed_certificate_is_made_once_and_reused(tmp_path: Path) -> None:
    directory = tmp_path / "config" / "trioftp"
    made = self_signed_certificate(directory)
    assert made.certfile.parent == made.keyfile.parent == directory
    assert stat.S_IMODE(os.stat(made.keyfile).st_mode) == 0o600
    assert FINGERPRINT.fullmatch(made.fingerprint)
    certificate = _load(made.certfile)
    der = certificate.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(der).hexdigest().upper()
    assert made.fingerprint.replace(":", "") == digest
    assert fingerprint(certificate) == made.fingerprint
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    # Reused: same files, same fingerprint, nothing rewritten.
    before = made.certfile.read_bytes(), made.keyfile.read_bytes()
    again = self_signed_certificate(directory)
    assert again == made
    assert (made.certfile.read_bytes(), made.keyfile.read_bytes()) == before
    # The pair loads as a server certificate.
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(made.certfile, made.keyfile)


def test_self_signed_certificate_in_the_config_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    made = self_signed_certificate()
    assert made.certfile.parent == tmp_path / "xdg" / "trioftp"
    assert stat.S_IMODE(os.stat(made.certfile.parent).st_mode) == 0o700


def test_self_signed_certificate_is_renewed_when_expiring(
    tmp_path: Path,
) -> None:
    ten_days = datetime.timedelta(days=10)
    short = self_signed_certificate(tmp_path, validity=ten_days)
    remaining = _load(short.certfile).not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert remaining < datetime.timedelta(days=11)
    # Expires within 30 days: the next call makes a new one.
    renewed = self_signed_certificate(tmp_path, validity=ten_days)
    assert renewed.fingerprint != short.fingerprint
    fresh = self_signed_certificate(tmp_path)
    assert fresh.fingerprint != renewed.fingerprint
    assert self_signed_certificate(tmp_path).fingerprint == fresh.fingerprint
    assert fresh.fingerprint == fingerprint(_load(fresh.certfile))
    assert stat.S_IMODE(os.stat(fresh.keyfile).st_mode) == 0o600


def test_renewed_key_file_is_private_even_if_it_was_not(tmp_path: Path) -> None:
    made = self_signed_certificate(tmp_path)
    os.chmod(made.keyfile, 0o644)
    made.certfile.unlink()  # forces a new certificate and key
    renewed = self_signed_certificate(tmp_path)
    assert renewed.fingerprint != made.fingerprint
    assert stat.S_IMODE(os.stat(renewed.keyfile).st_mode) == 0o600


async def test_self_signed_certificate_serves_ftps(
    start_server: StartServer, tmp_path: Path
) -> None:
    made = self_signed_certificate(tmp_path)
    server = await start_server(
        base=TLS_FTPHandler, certfile=str(made.certfile), keyfile=str(made.keyfile)
    )
    context = ssl.create_default_context()
    context.load_verify_locations(made.certfile)  # trust exactly this certificate
    client = await connect(server, context)
    await client.auth()
    assert client.control_tls is not None
    der = client.control_tls.getpeercert(binary_form=True)
    assert der is not None
    shown = ":".join(f"{byte:02X}" for byte in hashlib.sha256(der).digest())
    assert shown == made.fingerprint


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_pyopenssl_context_data_connections_resume_the_session(
    start_server: StartServer,
    certs: Certs,
    version: ssl.TLSVersion,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="trioftp")
    server = await start_server(base=TLS_FTPHandler, ssl_context=_pyopenssl_context(certs))
    (server.home / "a.txt").write_bytes(b"resumed")
    context = client_context(certs.ca, minimum_version=version, maximum_version=version)
    client = await connect(server, context)
    await client.secure()
    for _ in range(2):
        stream = await client.pasv()
        assert (await client.cmd("RETR a.txt")).code in (125, 150)
        tls = await client.wrap_data(stream, resume=True)
        assert tls.session_reused
        assert await read_all(tls) == b"resumed"
        assert (await client.reply()).first == DONE
    assert not [r for r in caplog.records if "did not resume" in r.getMessage()]


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_pyopenssl_context_tells_a_fresh_data_handshake_from_a_resumed_one(
    start_server: StartServer,
    certs: Certs,
    version: ssl.TLSVersion,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Resumption is read from the handshake's states (pyOpenSSL's public API):
    # a data connection that does not resume must not pass for one that does.
    caplog.set_level(logging.INFO, logger="trioftp")
    server = await start_server(
        base=TLS_FTPHandler,
        ssl_context=_pyopenssl_context(certs),
        tls_data_session_binding="required",
    )
    (server.home / "a.txt").write_bytes(b"fresh")
    context = client_context(certs.ca, minimum_version=version, maximum_version=version)
    client = await connect(server, context)
    await client.secure()
    stream = await client.pasv()
    assert (await client.cmd("RETR a.txt")).code in (125, 150)
    tls = await client.wrap_data(stream, resume=False)
    assert not tls.session_reused
    assert (await client.reply()).first == (
        "522 Data connection must reuse the control connection's TLS session."
    )
    stream = await client.pasv()
    assert (await client.cmd("RETR a.txt")).code in (125, 150)
    tls = await client.wrap_data(stream, resume=True)
    assert tls.session_reused
    assert await read_all(tls) == b"fresh"
    assert (await client.reply()).first == DONE
