"""Virtual hosts under FTPS: SNI selects a site and its certificate, strict SNI, HOST vs SNI."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import attrs
import pytest
import trio
import trustme

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import TLS_FTPHandler
from trioftp.session.sites import Site, SiteTable

from ..support.servers import RunningServer
from ..support.tlsclient import TLSClient, client_context

StartServer = Callable[..., Awaitable[RunningServer]]

BANNER_A = "Welcome to site A."
A_BYTES = b"site A over TLS\x00\xff" * 1000
B_BYTES = b"site B over TLS"
DONE = "226 Transfer complete."
VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


@attrs.frozen
class SiteCerts:
    ca: trustme.CA
    default: tuple[str, str]  #: 127.0.0.1 and localhost
    site_a: tuple[str, str]  #: ftp.a.example and a.example


def _write(leaf: trustme.LeafCert, directory: Path, name: str) -> tuple[str, str]:
    certfile, keyfile = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
    certfile.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    keyfile.write_bytes(leaf.private_key_pem.bytes())
    return str(certfile), str(keyfile)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> SiteCerts:
    directory = tmp_path_factory.mktemp("site-certs")
    ca = trustme.CA()
    return SiteCerts(
        ca,
        _write(ca.issue_cert("127.0.0.1", "localhost"), directory, "default"),
        _write(ca.issue_cert("ftp.a.example", "a.example"), directory, "a"),
    )


@pytest.fixture
def sites(tmp_path: Path, certs: SiteCerts) -> SiteTable:
    """Site A: alice, a certificate and a banner of its own; site B: anonymous, no certificate."""
    root_a, root_b = tmp_path / "a", tmp_path / "b"
    root_a.mkdir()
    root_b.mkdir()
    (root_a / "file.bin").write_bytes(A_BYTES)
    (root_b / "file.bin").write_bytes(B_BYTES)
    users_a = DummyAuthorizer()
    users_a.add_user("alice", "wonderland", str(root_a), perm="elr")
    users_b = DummyAuthorizer()
    users_b.add_anonymous(str(root_b))
    certfile, keyfile = certs.site_a
    return SiteTable(
        [
            Site(
                ["ftp.a.example", "a.example"],
                users_a,
                banner=BANNER_A,
                certfile=certfile,
                keyfile=keyfile,
            ),
            Site("ftp.b.example", users_b),
        ]
    )


@pytest.fixture
def vhost_server(start_server: StartServer, certs: SiteCerts, sites: SiteTable) -> StartServer:
    async def start(**attributes: object) -> RunningServer:
        attributes.setdefault("base", TLS_FTPHandler)
        attributes.setdefault("certfile", certs.default[0])
        attributes.setdefault("keyfile", certs.default[1])
        attributes.setdefault("sites", sites)
        return await start_server(**attributes)

    return start


def context_for(
    certs: SiteCerts, *, check_hostname: bool = True, version: str | None = None
) -> ssl.SSLContext:
    pinned = VERSIONS[version] if version else None
    context = client_context(certs.ca, minimum_version=pinned, maximum_version=pinned)
    context.check_hostname = check_hostname
    return context


async def open_client(
    server: RunningServer,
    context: ssl.SSLContext,
    name: str | None,
    *,
    implicit: bool = False,
) -> tuple[TLSClient, str]:
    """Connect sending *name* by SNI (None or an address: no SNI); the client and the greeting."""
    client, greeting = await TLSClient.open(
        server.host, server.port, context, implicit=implicit, server_hostname=name
    )
    assert greeting.code == 220, greeting
    return client, greeting.first


def dns_names(tls: trio.SSLStream[trio.abc.Stream]) -> set[str]:
    """The DNS names of the certificate *tls*'s server presented."""
    certificate = tls.getpeercert()
    assert certificate
    return {value for kind, value in certificate["subjectAltName"] if kind == "DNS"}


# --- the certificate each server name gets


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
async def test_sni_selects_the_site_and_its_certificate(
    vhost_server: StartServer, certs: SiteCerts, version: str
) -> None:
    # Binding required: the data connection must resume the control session,
    # which must survive the switch to the site's certificate.
    server = await vhost_server(tls_data_session_binding="required")
    client, _ = await open_client(server, context_for(certs, version=version), "FTP.A.Example")
    await client.auth()
    assert client.control_tls is not None
    assert dns_names(client.control_tls) == {"ftp.a.example", "a.example"}
    assert (await client.cmd("PBSZ 0")).code == 200
    assert (await client.cmd("PROT P")).code == 200
    # No HOST: the server name alone selected site A (curl's way).
    assert (await client.login("alice", "wonderland")).code == 230
    assert (await client.cmd("TYPE I")).code == 200
    preliminary, data, final = await client.download("RETR file.bin", resume=True)
    assert preliminary.code in (125, 150)
    assert (data, final.first) == (A_BYTES, DONE)


async def test_the_data_connection_presents_the_site_certificate(
    vhost_server: StartServer, certs: SiteCerts
) -> None:
    server = await vhost_server()
    client, _ = await open_client(server, context_for(certs), "a.example")
    await client.secure(login=False)
    assert (await client.login("alice", "wonderland")).code == 230
    connect = await client.data_connection("PASV")
    assert (await client.cmd("NLST")).code in (125, 150)
    tls = await client.wrap_data(await connect(), resume=True)
    assert dns_names(tls) == {"ftp.a.example", "a.example"}
    await tls.aclose()
    assert (await client.reply()).code in (226, 426)


async def test_a_site_without_a_certificate_gets_the_handlers(
    vhost_server: StartServer, certs: SiteCerts
) -> None:
    server = await vhost_server()
    client, _ = await open_client(server, context_for(certs, check_hostname=False), "ftp.b.example")
    await client.secure(login=False)
    assert client.control_tls is not None
    assert dns_names(client.control_tls) == {"localhost"}
    assert (await client.login("anonymous", "x@")).code == 230
    assert (await client.cmd("TYPE I")).code == 200
    _, data, final = await client.download("RETR file.bin", resume=True)
    assert (data, final.first) == (B_BYTES, DONE)


@pytest.mark.parametrize("name", ["127.0.0.1", "unlisted.example"])
async def test_no_or_unknown_server_name_gets_the_default_site(
    vhost_server: StartServer, certs: SiteCerts, name: str
) -> None:
    server = await vhost_server()
    client, _ = await open_client(server, context_for(certs, check_hostname=False), name)
    await client.secure()  # user/pass: the default site's user
    assert client.control_tls is not None
    assert dns_names(client.control_tls) == {"localhost"}


async def test_implicit_ftps_greets_with_the_sites_banner(
    vhost_server: StartServer, certs: SiteCerts
) -> None:
    server = await vhost_server(tls_implicit=True)
    client, greeting = await open_client(server, context_for(certs), "ftp.a.example", implicit=True)
    assert greeting == f"220 {BANNER_A}"
    assert (await client.login("alice", "wonderland")).code == 230


# --- HOST and the TLS server name (RFC 7151 sections 3.2.2 and 4)


async def test_host_before_auth_selects_the_certificate(
    vhost_server: StartServer, certs: SiteCerts
) -> None:
    server = await vhost_server()
    # An address: the client sends no server name, so HOST alone chooses.
    client, _ = await open_client(server, context_for(certs, check_hostname=False), "127.0.0.1")
    assert (await client.cmd("HOST a.example")).lines == (f"220 {BANNER_A}",)
    await client.auth()
    assert client.control_tls is not None
    assert dns_names(client.control_tls) == {"ftp.a.example", "a.example"}
    assert (await client.login("alice", "wonderland")).code == 230


async def test_host_after_auth_must_match_the_server_name(
    vhost_server: StartServer, certs: SiteCerts
) -> None:
    server = await vhost_server()
    client, _ = await open_client(server, context_for(certs), "ftp.a.example")
    await client.auth()
    assert (await client.cmd("HOST ftp.b.example")).lines == (
        "504 Host 'ftp.b.example' is not the host of this TLS session.",
    )
    assert (await client.cmd("HOST localhost")).code == 504
    # The site stays the server name's.
    assert (await client.cmd("HOST A.example")).lines == (f"220 {BANNER_A}",)
    assert (await client.login("alice", "wonderland")).code == 230


async def test_host_after_auth_without_a_server_name(
    vhost_server: StartServer, certs: SiteCerts
) -> None:
    server = await vhost_server()
    client, _ = await open_client(server, context_for(certs, check_hostname=False), "127.0.0.1")
    await client.auth()
    # The handshake presented the default site's certificate: another site can't be chosen now.
    assert (await client.cmd("HOST a.example")).code == 504
    assert (await client.cmd("HOST 127.0.0.1")).code == 220
    assert (await client.login("user", "pass")).code == 230


async def test_server_name_not_matching_an_earlier_host_is_refused(
    vhost_server: StartServer, certs: SiteCerts, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trioftp")
    server = await vhost_server()
    client, _ = await open_client(server, context_for(certs), "ftp.a.example")
    assert (await client.cmd("HOST ftp.b.example")).code == 220
    await client.auth()
    assert (await client.reply()).lines == (
        "421 The TLS server name does not match the HOST name.",
    )
    assert await client.stream.receive_some(100) == b""
    assert "TLS server name ('ftp.a.example') is not the site selected with HOST." in caplog.text


async def test_rein_returns_to_the_server_names_site(
    vhost_server: StartServer, certs: SiteCerts
) -> None:
    server = await vhost_server()
    client, _ = await open_client(server, context_for(certs), "a.example")
    await client.auth()
    assert (await client.login("alice", "wonderland")).code == 230
    assert (await client.cmd("REIN")).code == 220
    assert (await client.login("alice", "wonderland")).code == 230


# --- strict SNI


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("a.example", True),
        ("ftp.example.org", True),
        ("unlisted.example", False),
        ("127.0.0.1", False),
    ],
)
async def test_strict_sni(
    vhost_server: StartServer, certs: SiteCerts, name: str, accepted: bool
) -> None:
    server = await vhost_server(tls_strict_sni=True, host_names=["ftp.example.org"])
    client, _ = await open_client(server, context_for(certs, check_hostname=False), name)
    assert (await client.cmd("AUTH TLS")).code == 234
    if accepted:
        await client.start_tls()
        assert (await client.cmd("NOOP")).code == 200
    else:
        with pytest.raises(trio.BrokenResourceError) as refused:
            await client.start_tls()
        # The alert OpenSSL prepared reached the client.
        assert "UNRECOGNIZED_NAME" in str(refused.value.__cause__)


async def test_strict_sni_without_sites(start_server: StartServer, certs: SiteCerts) -> None:
    server = await start_server(
        base=TLS_FTPHandler,
        certfile=certs.default[0],
        keyfile=certs.default[1],
        tls_strict_sni=True,
        host_names=["localhost"],
    )
    client, _ = await open_client(server, context_for(certs), "localhost")
    await client.secure()
    client, _ = await open_client(server, context_for(certs, check_hostname=False), "127.0.0.1")
    assert (await client.cmd("AUTH TLS")).code == 234
    with pytest.raises(trio.BrokenResourceError):
        await client.start_tls()


async def test_site_certificates_need_the_handlers_own_certfile(
    vhost_server: StartServer, certs: SiteCerts, caplog: pytest.LogCaptureFixture
) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certs.default)
    server = await vhost_server(certfile=None, keyfile=None, ssl_context=context)
    client, _ = await open_client(server, context_for(certs), "a.example")
    assert (await client.cmd("AUTH TLS")).lines == ("431 TLS is not available on this server.",)
    assert "site certificates and tls_strict_sni need the handler's own certfile" in caplog.text


async def test_a_ready_context_with_sites_without_certificates(
    start_server: StartServer, certs: SiteCerts, sites: SiteTable
) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certs.default)
    plain_sites = SiteTable(attrs.evolve(site, certfile=None, keyfile=None) for site in sites)
    server = await start_server(base=TLS_FTPHandler, ssl_context=context, sites=plain_sites)
    client, _ = await open_client(server, context_for(certs, check_hostname=False), "127.0.0.1")
    assert (await client.cmd("HOST a.example")).code == 220
    await client.auth()
    assert (await client.login("alice", "wonderland")).code == 230


async def test_a_data_connection_naming_another_site_is_refused(
    vhost_server: StartServer, certs: SiteCerts
) -> None:
    server = await vhost_server()
    client, _ = await open_client(server, context_for(certs), "a.example")
    await client.secure(login=False)
    assert (await client.login("alice", "wonderland")).code == 230
    connect = await client.data_connection("PASV")
    assert (await client.cmd("NLST")).code in (125, 150)
    other = trio.SSLStream(
        await connect(),
        context_for(certs, check_hostname=False),
        server_hostname="ftp.b.example",
        https_compatible=False,
    )
    await other.do_handshake()  # the server checks the name once the handshake is done
    with pytest.raises(trio.BrokenResourceError):
        await other.receive_some(100)
    assert (await client.reply()).lines == (
        "425 The data connection's TLS server name is not the control connection's.",
    )


async def test_shared_contexts_route_too(vhost_server: StartServer, certs: SiteCerts) -> None:
    # Binding off: one shared context for all sessions, routed the same way.
    server = await vhost_server(tls_data_session_binding="off")
    for name, names in (
        ("a.example", {"ftp.a.example", "a.example"}),
        ("localhost", {"localhost"}),
    ):
        client, _ = await open_client(server, context_for(certs), name)
        await client.auth()
        assert client.control_tls is not None
        assert dns_names(client.control_tls) == names
        await client.aclose()
