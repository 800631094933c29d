"""tls_strict_eof (vsftpd's strict_ssl_read_eof): a PROT P upload must end with close_notify."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio
from OpenSSL import SSL

from trioftp.handlers import TLS_FTPHandler

from ..support.servers import RunningServer
from ..support.tlsclient import Certs, TLSClient, client_context, make_certs

StartServer = Callable[..., Awaitable[RunningServer]]
VERSIONS = [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]
DATA = bytes(range(256)) * 600
DONE = "226 Transfer complete."
TRUNCATED = (
    "426 Data connection closed without TLS close_notify; transfer aborted, "
    f"partial file kept ({len(DATA)} bytes received)."
)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def pyopenssl_context(certs: Certs) -> SSL.Context:
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.use_certificate_chain_file(certs.certfile)
    context.use_privatekey_file(certs.keyfile)
    return context


class Recorder:
    """The upload callbacks a handler called, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def handler_attributes(self) -> dict[str, object]:
        calls = self.calls

        def on_file_received(_: object, file: str) -> None:
            calls.append(("complete", Path(file).name))

        def on_incomplete_file_received(_: object, file: str) -> None:
            calls.append(("incomplete", Path(file).name))

        return {
            "on_file_received": on_file_received,
            "on_incomplete_file_received": on_incomplete_file_received,
        }


async def secured_client(
    start_server: StartServer,
    certs: Certs,
    version: ssl.TLSVersion,
    recorder: Recorder,
    *,
    pyopenssl: bool = False,
    **attributes: object,
) -> tuple[RunningServer, TLSClient]:
    if pyopenssl:
        attributes["ssl_context"] = pyopenssl_context(certs)
    else:
        attributes.update(certfile=certs.certfile, keyfile=certs.keyfile)
    server = await start_server(base=TLS_FTPHandler, **recorder.handler_attributes(), **attributes)
    context = client_context(certs.ca, minimum_version=version, maximum_version=version)
    client, greeting = await TLSClient.open(server.host, server.port, context)
    assert greeting.code == 220
    await client.secure()
    assert (await client.cmd("TYPE I")).code == 200
    return server, client


async def upload(client: TLSClient, name: str, *, close_notify: bool) -> str:
    stream = await client.pasv()
    assert (await client.cmd(f"STOR {name}")).code in (125, 150)
    tls = await client.wrap_data(stream)
    await tls.send_all(DATA)
    if close_notify:
        await tls.aclose()
    else:
        await stream.aclose()  # a bare TCP FIN: no close_notify
    return (await client.reply()).first


@pytest.mark.parametrize("pyopenssl", [False, True], ids=["stdlib", "pyopenssl"])
@pytest.mark.parametrize("version", VERSIONS, ids=["TLSv1.2", "TLSv1.3"])
async def test_strict_a_bare_fin_is_a_truncated_upload(
    start_server: StartServer, certs: Certs, version: ssl.TLSVersion, pyopenssl: bool
) -> None:
    recorder = Recorder()
    server, client = await secured_client(
        start_server, certs, version, recorder, pyopenssl=pyopenssl, tls_strict_eof=True
    )
    assert await upload(client, "cut.bin", close_notify=False) == TRUNCATED
    assert (server.home / "cut.bin").read_bytes() == DATA  # kept, as the reply says
    assert await upload(client, "clean.bin", close_notify=True) == DONE
    assert (server.home / "clean.bin").read_bytes() == DATA
    # Downloads still end with the server's close_notify.
    _, received, final = await client.download("RETR clean.bin")
    assert (received, final.first) == (DATA, DONE)
    assert (await client.cmd("NOOP")).code == 200
    assert recorder.calls == [("incomplete", "cut.bin"), ("complete", "clean.bin")]


@pytest.mark.parametrize("version", VERSIONS, ids=["TLSv1.2", "TLSv1.3"])
async def test_by_default_a_bare_fin_ends_the_file(
    start_server: StartServer, certs: Certs, version: ssl.TLSVersion
) -> None:
    recorder = Recorder()
    server, client = await secured_client(start_server, certs, version, recorder)
    assert TLS_FTPHandler.tls_strict_eof is False
    assert await upload(client, "fin.bin", close_notify=False) == DONE
    assert await upload(client, "notify.bin", close_notify=True) == DONE
    assert (server.home / "fin.bin").read_bytes() == DATA
    assert (server.home / "notify.bin").read_bytes() == DATA
    assert (await client.cmd("NOOP")).code == 200
    assert recorder.calls == [("complete", "fin.bin"), ("complete", "notify.bin")]


async def test_strict_plain_data_connections_are_not_affected(
    start_server: StartServer, certs: Certs
) -> None:
    recorder = Recorder()
    server, client = await secured_client(
        start_server, certs, ssl.TLSVersion.TLSv1_3, recorder, tls_strict_eof=True
    )
    assert (await client.cmd("PROT C")).code == 200
    stream = await client.pasv()
    assert (await client.cmd("STOR plain.bin")).code in (125, 150)
    await stream.send_all(DATA)
    await stream.aclose()
    assert (await client.reply()).first == DONE
    assert (server.home / "plain.bin").read_bytes() == DATA


# --- a refused handshake sends its alert (where the TLS library lets us: pyOpenSSL)


async def test_a_refused_handshake_sends_the_alert(start_server: StartServer, certs: Certs) -> None:
    context = pyopenssl_context(certs)
    context.set_min_proto_version(SSL.TLS1_3_VERSION)
    server = await start_server(base=TLS_FTPHandler, ssl_context=context)
    old = client_context(
        certs.ca, minimum_version=ssl.TLSVersion.TLSv1_2, maximum_version=ssl.TLSVersion.TLSv1_2
    )
    client, _ = await TLSClient.open(server.host, server.port, old)
    assert (await client.cmd("AUTH TLS")).code == 234
    with pytest.raises(trio.BrokenResourceError) as refused:
        await client.start_tls()
    # The client learns why (the server's protocol_version alert), not just an EOF.
    assert isinstance(refused.value.__cause__, ssl.SSLError)
    assert "ALERT_PROTOCOL_VERSION" in str(refused.value.__cause__)
