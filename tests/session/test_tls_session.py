"""FTPS sessions over loopback (RFC 4217): AUTH, PBSZ, PROT, CCC, implicit FTPS,
protected data connections and the data-session binding policy."""

from __future__ import annotations

import logging
import random
import re
import ssl
from collections.abc import Awaitable, Callable

import pytest
import trio

from trioftp.handlers import TLS_FTPHandler

from ..support.ftpclient import read_all
from ..support.servers import RunningServer
from ..support.tlsclient import Certs, Tap, TLSClient, client_context, make_certs, reset_connection

StartServer = Callable[..., Awaitable[RunningServer]]

MARKER = b"<<PLAINTEXT-MARKER-7f3a9c>>"
DONE = "226 Transfer complete."
AUTH_REQUIRED = "530 SSL/TLS required on the control channel (use AUTH TLS)."
PROT_REQUIRED = "522 SSL/TLS required on the data channel (use PROT P)."
DATA_TLS_FAILED = "425 TLS negotiation on the data connection failed."
NOT_RESUMED = "522 Data connection must reuse the control connection's TLS session."
NOT_RESUMED_LOG = "Data connection did not resume the control session's TLS session."
MODES = ["PASV", "EPSV", "PORT", "EPRT"]
VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


def content(size: int = 300_000, seed: int = 0) -> bytes:
    """Random bytes with a recognizable plaintext marker every 4 KiB."""
    rng = random.Random(seed)
    return b"".join(MARKER + rng.randbytes(4096) for _ in range(size // 4096 + 1))[:size]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def tls_server(start_server: StartServer, certs: Certs) -> StartServer:
    """Start a TLS_FTPHandler server with the trustme certificate (keyword args: attributes)."""

    async def start(**attributes: object) -> RunningServer:
        attributes.setdefault("base", TLS_FTPHandler)
        attributes.setdefault("certfile", certs.certfile)
        attributes.setdefault("keyfile", certs.keyfile)
        return await start_server(**attributes)

    return start


async def connect(
    server: RunningServer,
    certs: Certs,
    *,
    implicit: bool = False,
    version: str | None = None,
) -> TLSClient:
    """A client connected to *server*; TLS pinned to *version* when given."""
    pinned = VERSIONS[version] if version else None
    context = client_context(certs.ca, minimum_version=pinned, maximum_version=pinned)
    client, greeting = await TLSClient.open(server.host, server.port, context, implicit=implicit)
    assert greeting.code == 220, greeting
    return client


async def secured(
    tls_server: StartServer,
    certs: Certs,
    *,
    level: str = "P",
    version: str | None = None,
    **attributes: object,
) -> tuple[RunningServer, TLSClient]:
    """A server and a client that did AUTH TLS, PBSZ 0, PROT *level*, login, TYPE I.

    The client's TLS is pinned to *version* when given.
    """
    server = await tls_server(**attributes)
    client = await connect(server, certs, version=version)
    await client.secure(level)
    assert (await client.cmd("TYPE I")).code == 200
    return server, client


# --- AUTH


@pytest.mark.parametrize("mechanism", ["TLS", "SSL", "tls", "TLS-C"])
async def test_auth_then_handshake(tls_server: StartServer, certs: Certs, mechanism: str) -> None:
    server = await tls_server()
    client = await connect(server, certs)
    reply = await client.cmd(f"AUTH {mechanism}")
    assert reply.first == f"234 AUTH {mechanism.upper()} successful."
    await client.start_tls()
    assert client.control_tls is not None
    assert client.control_tls.version() in ("TLSv1.2", "TLSv1.3")
    assert (await client.cmd("NOOP")).first == "200 I successfully did nothing."
    status = await client.cmd("STAT")
    version = client.control_tls.version()
    assert f" Control connection: TLS ({version}); data protection: Clear" in status.lines
    assert (await client.login()).first == "230 Login successful."


async def test_auth_unknown_mechanism(tls_server: StartServer, certs: Certs) -> None:
    server = await tls_server()
    client = await connect(server, certs)
    reply = await client.cmd("AUTH KERBEROS_V4")
    assert reply.first == "504 Unrecognized AUTH type (use TLS or SSL)."
    # Still clear text, and AUTH TLS still possible.
    assert (await client.cmd("NOOP")).code == 200
    await client.auth()
    assert (await client.cmd("NOOP")).code == 200


async def test_auth_twice(tls_server: StartServer, certs: Certs) -> None:
    server = await tls_server()
    client = await connect(server, certs)
    await client.auth()
    assert (await client.cmd("AUTH TLS")).first == "503 Already using TLS."
    assert (await client.cmd("AUTH SSL")).first == "503 Already using TLS."
    assert (await client.cmd("NOOP")).code == 200


async def test_auth_without_certificate(start_server: StartServer) -> None:
    server = await start_server(base=TLS_FTPHandler)
    client = await server.client(login=False)
    reply = await client.cmd("AUTH TLS")
    assert reply.first == "502 TLS is not configured on this server."
    assert (await client.login()).code == 230


async def test_auth_without_arguments(tls_server: StartServer, certs: Certs) -> None:
    server = await tls_server()
    client = await connect(server, certs)
    assert (await client.cmd("AUTH")).code == 501
    assert (await client.cmd("NOOP")).code == 200


async def test_plaintext_pipelined_after_auth_is_never_run(
    tls_server: StartServer, certs: Certs
) -> None:
    """CVE-2011-1575: commands sent in clear together with AUTH TLS are thrown away."""
    users: list[str] = []

    class Recording(TLS_FTPHandler):
        async def ftp_USER(self, line: str) -> None:
            users.append(line)
            await super().ftp_USER(line)

    server = await tls_server(base=Recording)
    client = await connect(server, certs)
    await client.send_raw(b"AUTH TLS\r\nUSER evil\r\nPASS x\r\n")
    assert (await client.reply()).first == "234 AUTH TLS successful."
    await client.start_tls()
    # The next reply answers the next command, not the pipelined USER.
    assert (await client.cmd("NOOP")).first == "200 I successfully did nothing."
    assert (await client.cmd("PASS pass")).first == "503 Login with USER first."
    assert users == []
    assert (await client.login()).code == 230
    assert users == ["user"]


# --- PBSZ, PROT


async def test_pbsz_and_prot_need_tls(tls_server: StartServer, certs: Certs) -> None:
    server = await tls_server()
    client = await connect(server, certs)
    assert (await client.cmd("PBSZ 0")).first == (
        "503 PBSZ not allowed on insecure control connection."
    )
    assert (await client.cmd("PROT P")).first == (
        "503 PROT not allowed on insecure control connection."
    )
    await client.login()
    # Logged in but still clear: the same answers.
    assert (await client.cmd("PBSZ 0")).code == 503
    assert (await client.cmd("PROT C")).code == 503


async def test_pbsz_and_prot_replies(tls_server: StartServer, certs: Certs) -> None:
    server = await tls_server()
    client = await connect(server, certs)
    await client.auth()
    assert (await client.cmd("PROT P")).first == (
        "503 You must issue the PBSZ command prior to PROT."
    )
    assert (await client.cmd("PBSZ abc")).first == "501 PBSZ needs a number."
    assert (await client.cmd("PBSZ 0")).first == "200 PBSZ=0"
    assert (await client.cmd("PBSZ 1048576")).first == "200 PBSZ=0"
    assert (await client.cmd("PROT C")).first == "200 Protection set to Clear."
    assert (await client.cmd("PROT P")).first == "200 Protection set to Private."
    assert (await client.cmd("PROT p")).first == "200 Protection set to Private."
    assert (await client.cmd("PROT S")).first == "536 PROT S unsupported (use C or P)."
    assert (await client.cmd("PROT E")).first == "536 PROT E unsupported (use C or P)."
    assert (await client.cmd("PROT X")).first == "504 Unrecognized PROT type (use C or P)."
    # A refused level changes nothing: still Private.
    await client.login()
    status = await client.cmd("STAT")
    assert any(line.endswith("data protection: Private") for line in status.lines), status


async def test_feat_lists_ftps_commands(tls_server: StartServer, certs: Certs) -> None:
    server = await tls_server()
    client = await connect(server, certs)
    reply = await client.cmd("FEAT")
    assert reply.first == "211-Features supported:"
    assert reply.lines[-1] == "211 End FEAT."
    for line in (" AUTH TLS", " AUTH SSL", " PBSZ", " PROT", " CCC"):
        assert reply.lines.count(line) == 1, reply
    assert (await client.cmd("HELP AUTH")).first == (
        "214 Syntax: AUTH <SP> TLS|SSL (set up secure control channel)."
    )


# --- CCC


async def test_ccc_needs_login(tls_server: StartServer, certs: Certs) -> None:
    server = await tls_server()
    client = await connect(server, certs)
    await client.auth()
    assert (await client.cmd("CCC")).first == "530 Log in with USER and PASS first."
    # Still TLS.
    assert (await client.cmd("NOOP")).code == 200


async def test_ccc_on_a_clear_connection(tls_server: StartServer, certs: Certs) -> None:
    server = await tls_server()
    client = await connect(server, certs)
    await client.login()
    assert (await client.cmd("CCC")).first == "533 The control connection is not protected."


async def test_ccc_returns_to_clear_text_keeping_data_protection(
    tls_server: StartServer, certs: Certs
) -> None:
    server, client = await secured(tls_server, certs)
    data = content(100_000)
    (server.home / "a.bin").write_bytes(data)
    await client.ccc()
    assert client.stream is client.transport
    # Plain text on the TCP connection now.
    await client.transport.send_all(b"NOOP\r\n")
    assert (await client.reply()).first == "200 I successfully did nothing."
    status = await client.cmd("STAT")
    assert " Control connection: clear; data protection: Private" in status.lines
    assert (await client.cmd("CCC")).first == "533 The control connection is not protected."
    # PROT P survives CCC: the data connection is still TLS.
    taps: list[Tap] = []
    _, received, final = await client.download("RETR a.bin", tap=taps)
    assert received == data
    assert final.first == DONE
    assert MARKER not in taps[0].received
    _, final = await client.upload("STOR b.bin", data, tap=taps)
    assert final.first == DONE
    assert (server.home / "b.bin").read_bytes() == data
    assert MARKER not in taps[1].sent
    # Once clear, PBSZ/PROT can't be changed any more (no TLS to negotiate on).
    assert (await client.cmd("PROT C")).code == 503
    assert (await client.cmd("AUTH TLS")).code == 234  # a new AUTH is possible
    await client.start_tls()
    assert (await client.cmd("NOOP")).code == 200


# --- tls_control_required, tls_data_required


async def test_tls_control_required(tls_server: StartServer, certs: Certs) -> None:
    server = await tls_server(tls_control_required=True)
    client = await connect(server, certs)
    assert (await client.cmd("USER user")).first == AUTH_REQUIRED
    assert (await client.cmd("PASS pass")).first == AUTH_REQUIRED
    assert (await client.cmd("NOOP")).code == 200
    await client.auth()
    assert (await client.login()).first == "230 Login successful."


@pytest.mark.parametrize("command", ["RETR a.bin", "STOR new.bin", "APPE a.bin", "LIST", "MLSD"])
async def test_tls_data_required(tls_server: StartServer, certs: Certs, command: str) -> None:
    server, client = await secured(tls_server, certs, level="C", tls_data_required=True)
    (server.home / "a.bin").write_bytes(b"original")
    stream = await client.pasv()
    # Refused before any 150, and nothing was touched.
    assert (await client.cmd(command)).first == PROT_REQUIRED
    await stream.aclose()
    assert (await client.cmd("NOOP")).code == 200
    assert sorted(p.name for p in server.home.iterdir()) == ["a.bin"]
    assert (server.home / "a.bin").read_bytes() == b"original"
    # With PROT P the same transfer goes through.
    assert (await client.cmd("PROT P")).code == 200
    if command.startswith(("STOR", "APPE")):
        _, final = await client.upload(command, b"more")
    else:
        _, _, final = await client.download(command)
    assert final.first == DONE


# --- ALPACA: HTTP on the FTP port


@pytest.mark.parametrize(
    "request_line",
    [
        b"GET / HTTP/1.1",
        b"POST /upload HTTP/1.1",
        b"CONNECT example.com:443 HTTP/1.1",
        b"PUT /x HTTP/1.0",
        b"HEAD / HTTP/1.1",
    ],
)
async def test_http_request_first_is_dropped_without_reply(
    tls_server: StartServer, certs: Certs, request_line: bytes
) -> None:
    server = await tls_server()
    client = await connect(server, certs)
    await client.send_raw(request_line + b"\r\nHost: example.com\r\n\r\n")
    assert await client.transport.receive_some(65536) == b""


async def test_http_request_over_tls_before_login_is_dropped(
    tls_server: StartServer, certs: Certs
) -> None:
    server = await tls_server()
    client = await connect(server, certs)
    await client.auth()
    await client.send(b"GET / HTTP/1.1")
    assert await client.read_line() is None


async def test_http_verbs_after_login_are_unknown_commands(
    tls_server: StartServer, certs: Certs
) -> None:
    server = await tls_server()
    client = await connect(server, certs)
    await client.login()
    assert (await client.cmd("GET / HTTP/1.1")).first == '500 Command "GET" not understood.'
    assert (await client.cmd("POST /")).first == '500 Command "POST" not understood.'
    assert (await client.cmd("NOOP")).code == 200


# --- REIN


async def test_rein_resets_pbsz_and_prot(tls_server: StartServer, certs: Certs) -> None:
    server, client = await secured(tls_server, certs)
    data = content(50_000)
    (server.home / "a.bin").write_bytes(data)
    assert (await client.cmd("REIN")).first == "220 Ready for new user."
    # The control connection stays TLS; PBSZ and PROT are forgotten.
    assert client.stream is client.control_tls
    assert (await client.cmd("PROT P")).first == (
        "503 You must issue the PBSZ command prior to PROT."
    )
    await client.login()
    assert (await client.cmd("TYPE I")).code == 200
    taps: list[Tap] = []
    _, received, final = await client.download("RETR a.bin", protect=False, tap=taps)
    assert received == data
    assert final.first == DONE
    assert MARKER in taps[0].received  # clear again


# --- implicit FTPS


async def test_implicit_ftps(tls_server: StartServer, certs: Certs) -> None:
    server = await tls_server(tls_implicit=True)
    data = content(200_000)
    (server.home / "a.bin").write_bytes(data)
    transport_tap: list[Tap] = []
    context = client_context(certs.ca)
    raw = await trio.open_tcp_stream(server.host, server.port)
    tap = Tap(raw)
    transport_tap.append(tap)
    tls = trio.SSLStream(tap, context, server_hostname="127.0.0.1", https_compatible=False)
    # The handshake comes first; the greeting arrives over TLS.
    await tls.do_handshake()
    client = TLSClient(raw, context)
    client.stream = client.control_tls = tls
    greeting = await client.reply()
    assert greeting.code == 220
    assert b"220" not in tap.received
    assert (await client.cmd("AUTH TLS")).first == "503 Already using TLS."
    await client.login()
    assert (await client.cmd("TYPE I")).code == 200
    # Data connections are protected without PBSZ/PROT.
    taps: list[Tap] = []
    _, received, final = await client.download("RETR a.bin", tap=taps)
    assert received == data
    assert final.first == DONE
    assert MARKER not in taps[0].received
    assert (await client.cmd("PBSZ 0")).first == "200 PBSZ=0"
    assert (await client.cmd("PROT C")).first == (
        "534 Data connections are always protected on this server."
    )
    assert (await client.cmd("PROT P")).first == "200 Protection set to Private."
    # REIN keeps the data channel protected.
    assert (await client.cmd("REIN")).code == 220
    await client.login()
    assert (await client.cmd("TYPE I")).code == 200
    _, final = await client.upload("STOR b.bin", data, tap=taps)
    assert final.first == DONE
    assert (server.home / "b.bin").read_bytes() == data
    assert MARKER not in taps[1].sent


@pytest.mark.parametrize("command", ["RETR a.bin", "STOR a.bin"])
async def test_implicit_plaintext_data_connection_fails_the_transfer(
    tls_server: StartServer, certs: Certs, command: str
) -> None:
    server = await tls_server(tls_implicit=True)
    (server.home / "a.bin").write_bytes(b"original")
    client = await connect(server, certs, implicit=True)
    await client.login()
    stream = await client.pasv()
    assert (await client.cmd(command)).code in (125, 150)
    await stream.send_all(b"plain upload data, no TLS\r\n")
    received = await read_all(stream)
    assert b"original" not in received
    assert (await client.reply()).first == DATA_TLS_FAILED
    assert (server.home / "a.bin").read_bytes() == b"original"
    assert (await client.cmd("NOOP")).code == 200


async def test_implicit_server_drops_a_plaintext_client_quietly(
    tls_server: StartServer, certs: Certs
) -> None:
    server = await tls_server(tls_implicit=True)
    stream = await trio.open_tcp_stream(server.host, server.port)
    await stream.send_all(b"USER user\r\n")
    received = b""
    with trio.fail_after(10):
        while data := await stream.receive_some(65536):
            received += data
    # No FTP reply in clear: at most a TLS alert record.
    assert b"220" not in received
    assert b"530" not in received
    assert received == b"" or received[0] == 0x15


async def test_explicit_and_implicit_servers_in_one_run(
    tls_server: StartServer, certs: Certs
) -> None:
    explicit = await tls_server()
    implicit = await tls_server(tls_implicit=True)
    assert explicit.port != implicit.port
    data = content(20_000)
    (explicit.home / "a.bin").write_bytes(data)
    first = await connect(explicit, certs)
    second = await connect(implicit, certs, implicit=True)
    await first.secure()
    await second.login()
    for client in (first, second):
        assert (await client.cmd("TYPE I")).code == 200
        _, received, final = await client.download("RETR a.bin")
        assert received == data
        assert final.first == DONE
    # An implicit client on the explicit port gets no handshake.
    with pytest.raises(trio.BrokenResourceError):
        await connect(explicit, certs, implicit=True)


# --- protected data connections


@pytest.mark.parametrize("mode", MODES)
async def test_protected_retr(tls_server: StartServer, certs: Certs, mode: str) -> None:
    server, client = await secured(tls_server, certs)
    data = content()
    (server.home / "a.bin").write_bytes(data)
    taps: list[Tap] = []
    preliminary, received, final = await client.download("RETR a.bin", mode=mode, tap=taps)
    assert preliminary.code in (125, 150)
    assert received == data
    assert final.first == DONE
    wire = bytes(taps[0].received)
    assert MARKER not in wire
    assert wire[:1] == b"\x16"  # a TLS handshake record comes first
    assert len(wire) > len(data)


@pytest.mark.parametrize("mode", MODES)
async def test_protected_stor(tls_server: StartServer, certs: Certs, mode: str) -> None:
    server, client = await secured(tls_server, certs)
    data = content(seed=1)
    taps: list[Tap] = []
    _, final = await client.upload("STOR up.bin", data, mode=mode, tap=taps)
    assert final.first == DONE
    assert (server.home / "up.bin").read_bytes() == data
    assert MARKER not in taps[0].sent


@pytest.mark.parametrize("mode", ["PASV", "EPRT"])
async def test_protected_appe(tls_server: StartServer, certs: Certs, mode: str) -> None:
    server, client = await secured(tls_server, certs)
    (server.home / "log.bin").write_bytes(b"head|")
    data = content(70_000, seed=2)
    taps: list[Tap] = []
    _, final = await client.upload("APPE log.bin", data, mode=mode, tap=taps)
    assert final.first == DONE
    assert (server.home / "log.bin").read_bytes() == b"head|" + data
    assert MARKER not in taps[0].sent


@pytest.mark.parametrize("mode", ["PASV", "PORT"])
async def test_protected_listings(tls_server: StartServer, certs: Certs, mode: str) -> None:
    server, client = await secured(tls_server, certs)
    marker = MARKER.decode()
    for name in ("b.txt", "a.txt", f"{marker}.txt"):
        (server.home / name).write_bytes(b"x")
    _, nlst, final = await client.download("NLST", mode=mode)
    assert final.first == DONE
    assert sorted(nlst.split(b"\r\n")) == [b"", MARKER + b".txt", b"a.txt", b"b.txt"]
    for command in ("LIST", "MLSD"):
        taps: list[Tap] = []
        _, protected, final = await client.download(command, mode=mode, tap=taps)
        assert final.first == DONE
        assert MARKER not in taps[0].received
        assert (await client.cmd("PROT C")).code == 200
        _, clear, final = await client.download(command, mode=mode, protect=False)
        assert final.first == DONE
        assert (await client.cmd("PROT P")).code == 200
        assert protected == clear
        assert MARKER in clear
        assert all(name in protected for name in (b"a.txt\r\n", b"b.txt\r\n"))


@pytest.mark.parametrize("mode", ["PASV", "PORT"])
async def test_prot_c_data_is_clear(tls_server: StartServer, certs: Certs, mode: str) -> None:
    server, client = await secured(tls_server, certs, level="C")
    data = content(50_000)
    (server.home / "a.bin").write_bytes(data)
    taps: list[Tap] = []
    _, received, final = await client.download("RETR a.bin", mode=mode, protect=False, tap=taps)
    assert received == data == bytes(taps[0].received)
    assert final.first == DONE
    _, final = await client.upload("STOR b.bin", data, mode=mode, protect=False)
    assert final.first == DONE
    assert (server.home / "b.bin").read_bytes() == data


async def test_150_comes_before_the_data_handshake(tls_server: StartServer, certs: Certs) -> None:
    server, client = await secured(tls_server, certs)
    (server.home / "a.bin").write_bytes(b"payload")
    connect = await client.data_connection("PORT")
    with trio.fail_after(10):
        # Nothing was sent on the data connection yet: the 150 arrives first.
        assert (await client.cmd("RETR a.bin")).first == (
            "150 File status okay. About to open data connection."
        )
        raw = await connect()
        status = await client.cmd("STAT")
        assert " Transfer starting: waiting for the data connection." in status.lines
        tap = Tap(raw)
        tls = await client.wrap_data(tap)
        assert await read_all(tls) == b"payload"
        assert (await client.reply()).first == DONE
    assert tap.received[:1] == b"\x16"


@pytest.mark.parametrize("command", ["RETR a.bin", "STOR a.bin", "LIST"])
async def test_failed_data_handshake_gets_425(
    tls_server: StartServer, certs: Certs, command: str
) -> None:
    server, client = await secured(tls_server, certs)
    (server.home / "a.bin").write_bytes(b"original")
    stream = await client.pasv()
    assert (await client.cmd(command)).code in (125, 150)
    await stream.send_all(b"this is not a TLS ClientHello\r\n\r\n")
    with trio.fail_after(10):
        assert (await client.reply()).first == DATA_TLS_FAILED
    await stream.aclose()
    assert (server.home / "a.bin").read_bytes() == b"original"
    assert (await client.cmd("NOOP")).code == 200


async def test_data_connection_closed_during_handshake_gets_425(
    tls_server: StartServer, certs: Certs
) -> None:
    server, client = await secured(tls_server, certs)
    (server.home / "a.bin").write_bytes(b"original")
    stream = await client.pasv()
    assert (await client.cmd("RETR a.bin")).code in (125, 150)
    await stream.aclose()
    with trio.fail_after(10):
        assert (await client.reply()).first == DATA_TLS_FAILED


async def test_download_ends_with_close_notify(tls_server: StartServer, certs: Certs) -> None:
    server, client = await secured(tls_server, certs)
    (server.home / "a.bin").write_bytes(b"exact bytes\r\n")
    stream = await client.pasv()
    assert (await client.cmd("RETR a.bin")).code in (125, 150)
    tls = await client.wrap_data(stream)
    received = b""
    # https_compatible=False: an EOF without close_notify would raise here.
    while data := await tls.receive_some(65536):
        received += data
    assert received == b"exact bytes\r\n"
    assert await tls.receive_some(65536) == b""
    assert (await client.reply()).first == DONE
    await tls.aclose()


@pytest.mark.parametrize("version", VERSIONS)
async def test_upload_ending_with_a_bare_fin_completes(
    tls_server: StartServer, certs: Certs, version: str
) -> None:
    server, client = await secured(tls_server, certs, version=version)
    data = content(150_000)
    stream = await client.pasv()
    assert (await client.cmd("STOR up.bin")).code in (125, 150)
    tls = await client.wrap_data(stream)
    assert tls.version() == version
    await tls.send_all(data)
    # No close_notify: the TCP connection just ends.
    await tls.transport_stream.aclose()
    assert (await client.reply()).first == DONE
    assert (server.home / "up.bin").read_bytes() == data


@pytest.mark.parametrize("version", VERSIONS)
async def test_reset_upload_is_never_complete(
    tls_server: StartServer, certs: Certs, version: str
) -> None:
    server, client = await secured(tls_server, certs, version=version)
    data = content(100_000)
    stream = await client.pasv()
    assert (await client.cmd("STOR up.bin")).code in (125, 150)
    tls = await client.wrap_data(stream)
    await tls.send_all(data)
    # Wait until the server has every byte, then reset the connection.
    with trio.fail_after(10):
        while True:
            status = await client.cmd("STAT")
            found = [re.search(r"(\d+) bytes transmitted", line) for line in status.lines]
            moved = [int(m.group(1)) for m in found if m]
            if moved and moved[0] == len(data):
                break
    reset_connection(stream)
    final = await client.reply()
    assert final.code in (426, 451), final
    assert final.first == (
        f"426 Connection closed; transfer aborted, partial file kept ({len(data)} bytes received)."
    )
    assert (server.home / "up.bin").read_bytes() == data


async def test_tls13_uploads_closed_promptly_arrive_intact(
    tls_server: StartServer, certs: Certs
) -> None:
    server, client = await secured(tls_server, certs, version="TLSv1.3")
    for index in range(6):
        data = content(30_000 + index * 7_919, seed=index)
        stream = await client.pasv()
        assert (await client.cmd(f"STOR up{index}.bin")).code in (125, 150)
        tls = await client.wrap_data(stream)
        assert tls.version() == "TLSv1.3"
        await tls.send_all(data)
        if index % 2:
            await tls.aclose()  # close_notify, then close at once
        else:
            await tls.transport_stream.aclose()  # no close_notify
        assert (await client.reply()).first == DONE
        assert (server.home / f"up{index}.bin").read_bytes() == data


# --- data-session binding


@pytest.mark.parametrize("version", VERSIONS)
async def test_binding_required_accepts_a_resumed_session(
    tls_server: StartServer, certs: Certs, version: str
) -> None:
    server = await tls_server(tls_data_session_binding="required")
    data = content(100_000)
    (server.home / "a.bin").write_bytes(data)
    client = await connect(server, certs, version=version)
    await client.secure()
    assert (await client.cmd("TYPE I")).code == 200
    _, received, final = await client.download("RETR a.bin", resume=True)
    assert received == data
    assert final.first == DONE
    _, final = await client.upload("STOR b.bin", data, mode="EPRT", resume=True)
    assert final.first == DONE
    assert (server.home / "b.bin").read_bytes() == data
    _, listing, final = await client.download("NLST", mode="PORT", resume=True)
    assert final.first == DONE
    assert sorted(listing.split()) == [b"a.bin", b"b.bin"]


@pytest.mark.parametrize("version", VERSIONS)
async def test_binding_required_refuses_a_fresh_handshake(
    tls_server: StartServer, certs: Certs, version: str
) -> None:
    server = await tls_server(tls_data_session_binding="required")
    (server.home / "a.bin").write_bytes(b"secret")
    client = await connect(server, certs, version=version)
    await client.secure()
    stream = await client.pasv()
    assert (await client.cmd("RETR a.bin")).code in (125, 150)
    tls = await client.wrap_data(stream)  # a full handshake, no resumption
    with pytest.raises(trio.BrokenResourceError):
        await read_all(tls)
    assert (await client.reply()).first == NOT_RESUMED
    # The session goes on; a resuming data connection works.
    _, received, final = await client.download("RETR a.bin", resume=True)
    assert (received, final.first) == (b"secret", DONE)


@pytest.mark.parametrize("version", VERSIONS)
async def test_binding_required_refuses_a_foreign_session(
    tls_server: StartServer, certs: Certs, version: str
) -> None:
    """Another client of the same server can't steal a passive data connection
    by resuming its own TLS session there."""
    server = await tls_server(tls_data_session_binding="required")
    (server.home / "secret.bin").write_bytes(MARKER * 10)
    victim = await connect(server, certs, version=version)
    await victim.secure()
    thief = await connect(server, certs, version=version)
    await thief.secure()
    reply = await victim.cmd("EPSV")
    port = int(reply.text.split("|||")[1].split("|")[0])
    stolen = await trio.open_tcp_stream("127.0.0.1", port)
    assert (await victim.cmd("RETR secret.bin")).code in (125, 150)
    received = b""
    with pytest.raises(trio.BrokenResourceError):  # noqa: PT012
        tls = await thief.wrap_data(stolen, resume=True)
        assert not tls.session_reused
        while data := await tls.receive_some(65536):
            received += data
    assert MARKER not in received
    assert (await victim.reply()).first == NOT_RESUMED
    # Both sessions go on normally.
    assert (await thief.cmd("NOOP")).code == 200
    _, data, final = await victim.download("RETR secret.bin", resume=True)
    assert (data, final.first) == (MARKER * 10, DONE)


@pytest.mark.parametrize("version", VERSIONS)
async def test_binding_preferred_accepts_and_logs_a_fresh_handshake(
    tls_server: StartServer, certs: Certs, version: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trioftp")
    server = await tls_server()  # "preferred" is the default
    (server.home / "a.bin").write_bytes(b"payload")
    client = await connect(server, certs, version=version)
    await client.secure()
    _, received, final = await client.download("RETR a.bin", resume=True)
    assert (received, final.first) == (b"payload", DONE)
    assert not any(NOT_RESUMED_LOG in record.getMessage() for record in caplog.records)
    _, received, final = await client.download("RETR a.bin")
    assert (received, final.first) == (b"payload", DONE)
    logged = [r for r in caplog.records if NOT_RESUMED_LOG in r.getMessage()]
    assert len(logged) == 1
    assert logged[0].name == "trioftp"


@pytest.mark.parametrize("version", VERSIONS)
async def test_binding_off_accepts_a_fresh_handshake_silently(
    tls_server: StartServer, certs: Certs, version: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="trioftp")
    server = await tls_server(tls_data_session_binding="off")
    (server.home / "a.bin").write_bytes(b"payload")
    client = await connect(server, certs, version=version)
    await client.secure()
    for resume in (False, True):
        _, received, final = await client.download("RETR a.bin", resume=resume)
        assert (received, final.first) == (b"payload", DONE)
    assert not any(NOT_RESUMED_LOG in record.getMessage() for record in caplog.records)
