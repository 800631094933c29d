"""The FTPS data path: the batching data-connection TLS stream, the early handshake
(started when a passive connection is accepted) and why a data handshake failed."""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
import trio
import trio.testing
from OpenSSL import SSL

from trioftp.dtp import TLS_DTPHandler
from trioftp.handlers import TLS_FTPHandler
from trioftp.session.runner import InlineRunner
from trioftp.tls.contexts import TLSSettings, build_context
from trioftp.tls.datastream import DataTLSStream
from trioftp.tls.openssl_stream import OpenSSLStream

from ..support.ftpclient import read_all
from ..support.servers import RunningServer
from ..support.tlsclient import Certs, TLSClient, client_context, make_certs, reset_connection

StartServer = Callable[..., Awaitable[RunningServer]]

DONE = "226 Transfer complete."
DATA_TLS_FAILED = "425 TLS negotiation on the data connection failed."
VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
RECORD = 16384


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


async def secured(
    start_server: StartServer, certs: Certs, version: str | None = None, **attributes: object
) -> tuple[RunningServer, TLSClient]:
    """A TLS server and a client logged in under PROT P, TYPE I (TLS pinned to *version*)."""
    server = await start_server(
        base=TLS_FTPHandler, certfile=certs.certfile, keyfile=certs.keyfile, **attributes
    )
    pinned = VERSIONS[version] if version else None
    context = client_context(certs.ca, minimum_version=pinned, maximum_version=pinned)
    client, greeting = await TLSClient.open(server.host, server.port, context)
    assert greeting.code == 220, greeting
    await client.secure("P")
    assert (await client.cmd("TYPE I")).code == 200
    return server, client


# --- the early handshake: a client that handshakes as soon as it connects


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("data", [b"", b"tiny\r\n"], ids=["empty", "tiny"])
async def test_upload_handshaken_before_the_command_and_closed_at_once(
    start_server: StartServer, certs: Certs, version: str, data: bytes
) -> None:
    server, client = await secured(
        start_server, certs, version, tls_data_session_binding="required"
    )
    stream = await client.pasv()
    # The handshake, resuming the control session, before STOR is even sent:
    # the server answers it because it started the handshake at accept.
    tls = await client.wrap_data(stream, resume=True)
    assert tls.session_reused
    assert (await client.cmd("STOR up.bin")).code in (125, 150)
    await tls.send_all(data)
    await tls.aclose()  # close_notify and close at once, the server's tickets unread
    assert (await client.reply()).first == DONE
    assert (server.home / "up.bin").read_bytes() == data


def pyopenssl_context(certs: Certs) -> SSL.Context:
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.use_certificate_chain_file(certs.certfile)
    context.use_privatekey_file(certs.keyfile)
    return context


async def test_pyopenssl_upload_handshaken_before_the_command(
    start_server: StartServer, certs: Certs
) -> None:
    server, client = await secured(start_server, certs, ssl_context=pyopenssl_context(certs))
    stream = await client.pasv()
    tls = await client.wrap_data(stream, resume=True)
    assert tls.session_reused
    assert (await client.cmd("STOR up.bin")).code in (125, 150)
    await tls.send_all(b"tiny\r\n")
    await tls.aclose()
    assert (await client.reply()).first == DONE
    assert (server.home / "up.bin").read_bytes() == b"tiny\r\n"


@pytest.mark.parametrize("version", VERSIONS)
async def test_download_handshaken_before_the_command(
    start_server: StartServer, certs: Certs, version: str
) -> None:
    server, client = await secured(start_server, certs, version)
    (server.home / "a.bin").write_bytes(b"exact bytes\r\n")
    stream = await client.pasv()
    tls = await client.wrap_data(stream, resume=True)
    assert (await client.cmd("RETR a.bin")).code in (125, 150)
    assert await read_all(tls) == b"exact bytes\r\n"  # ends with close_notify, or raises
    assert (await client.reply()).first == DONE
    await tls.aclose()


async def test_a_connection_made_under_prot_p_is_not_used_under_prot_c(
    start_server: StartServer, certs: Certs
) -> None:
    server, client = await secured(start_server, certs)
    (server.home / "a.bin").write_bytes(b"secret")
    stream = await client.pasv()
    tls = await client.wrap_data(stream)
    assert (await client.cmd("PROT C")).code == 200
    assert (await client.cmd("RETR a.bin")).code in (125, 150)
    assert (await client.reply()).first == (
        "425 The data connection was opened under another protection level."
    )
    with pytest.raises(trio.BrokenResourceError):  # cut, without a byte or close_notify
        await read_all(tls)
    assert (await client.cmd("NOOP")).code == 200


# --- ABOR and timeouts cancel a protected transfer at once, losing no byte


async def bytes_transmitted(client: TLSClient) -> int | None:
    """The running transfer's byte count, as STAT tells it."""
    status = await client.cmd("STAT")
    found = [re.search(r"(\d+) bytes transmitted", line) for line in status.lines]
    moved = [int(m.group(1)) for m in found if m]
    return moved[0] if moved else None


@pytest.mark.parametrize("version", VERSIONS)
async def test_abor_during_a_protected_upload_keeps_every_received_byte(
    start_server: StartServer, certs: Certs, version: str
) -> None:
    server, client = await secured(start_server, certs, version)
    data = bytes(range(251)) * 1000
    stream = await client.pasv()
    assert (await client.cmd("STOR up.bin")).code in (125, 150)
    tls = await client.wrap_data(stream, resume=True)
    await tls.send_all(data)
    with trio.fail_after(10):  # the server has every byte; it waits for more
        while await bytes_transmitted(client) != len(data):
            pass
    await client.send("ABOR")
    assert (await client.reply()).first == (
        f"426 Transfer aborted, partial file kept ({len(data)} bytes received)."
    )
    assert (await client.reply()).first == "226 ABOR command successful."
    assert (server.home / "up.bin").read_bytes() == data
    with pytest.raises(trio.BrokenResourceError):  # closed under the client, at once
        await tls.send_all(data * 40)
    assert (await client.cmd("NOOP")).code == 200


async def test_abor_during_a_protected_download(start_server: StartServer, certs: Certs) -> None:
    server, client = await secured(start_server, certs)
    (server.home / "big.bin").write_bytes(bytes(32 << 20))
    stream = await client.pasv()
    assert (await client.cmd("RETR big.bin")).code in (125, 150)
    tls = await client.wrap_data(stream, resume=True)
    assert await tls.receive_some(65536)  # then read no more: the server's sends block
    await client.send("ABOR")
    assert (await client.reply()).first == "426 Transfer aborted."
    assert (await client.reply()).first == "226 ABOR command successful."
    with pytest.raises(trio.BrokenResourceError):  # cut short: no close_notify
        await read_all(tls)
    assert (await client.cmd("NOOP")).code == 200


async def test_abor_while_the_early_handshake_is_awaited(
    start_server: StartServer, certs: Certs
) -> None:
    server, client = await secured(start_server, certs)
    (server.home / "a.bin").write_bytes(b"original")
    stream = await client.pasv()  # connected; no ClientHello ever comes
    assert (await client.cmd("STOR a.bin")).code in (125, 150)
    await client.send("ABOR")
    assert (await client.reply()).first == "426 Transfer aborted."
    assert (await client.reply()).first == "226 ABOR command successful."
    assert await stream.receive_some(65536) == b""  # closed, nothing sent
    assert (server.home / "a.bin").read_bytes() == b"original"


class ImpatientTLS(TLS_DTPHandler):
    timeout = 20


async def test_stalled_protected_upload_times_out_keeping_the_bytes(
    start_server: StartServer, certs: Certs, autojump_clock: trio.testing.MockClock
) -> None:
    server, client = await secured(
        start_server, certs, runner=InlineRunner(), dtp_handler=ImpatientTLS,
        tls_handshake_timeout=10_000,
    )  # fmt: skip
    stream = await client.pasv()
    assert (await client.cmd("STOR up.bin")).code in (125, 150)
    tls = await client.wrap_data(stream, resume=True)
    await tls.send_all(b"first part")
    start = trio.current_time()
    assert (await client.reply()).first == (  # the client sends nothing more
        "426 Data connection timed out; transfer aborted, partial file kept (10 bytes received)."
    )
    assert trio.current_time() - start == pytest.approx(20, abs=1)
    assert (server.home / "up.bin").read_bytes() == b"first part"


async def test_stalled_protected_download_times_out(
    start_server: StartServer, certs: Certs, autojump_clock: trio.testing.MockClock
) -> None:
    server, client = await secured(
        start_server, certs, runner=InlineRunner(), dtp_handler=ImpatientTLS,
        tls_handshake_timeout=10_000,
    )  # fmt: skip
    (server.home / "big.bin").write_bytes(bytes(32 << 20))
    stream = await client.pasv()
    assert (await client.cmd("RETR big.bin")).code in (125, 150)
    tls = await client.wrap_data(stream, resume=True)
    assert await tls.receive_some(65536)  # then read no more
    start = trio.current_time()
    assert (await client.reply()).first == "426 Data connection timed out; transfer aborted."
    # At once: the server does not wait to send a close_notify (nor sends one).
    assert trio.current_time() - start == pytest.approx(20, abs=1)
    with pytest.raises(trio.BrokenResourceError):
        await read_all(tls)


# --- why a data handshake failed: the log line


def tls_failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if "TLS handshake on the data connection failed" in r.getMessage()
    ]


@pytest.mark.parametrize("strict_eof", [False, True])
async def test_client_leaving_during_the_data_handshake_is_logged_with_the_reason(
    start_server: StartServer, certs: Certs, caplog: pytest.LogCaptureFixture, strict_eof: bool
) -> None:
    caplog.set_level(logging.INFO, logger="trioftp")
    _, client = await secured(start_server, certs, tls_strict_eof=strict_eof)
    port = client.transport.socket.getsockname()[1]
    stream = await client.pasv()
    assert (await client.cmd("LIST")).code in (125, 150)
    await stream.aclose()
    assert (await client.reply()).first == DATA_TLS_FAILED
    (line,) = tls_failures(caplog)
    who = re.escape(f"127.0.0.1:{port}-[user]")
    assert re.fullmatch(
        rf"{who} TLS handshake on the data connection failed: the client closed the "
        r"connection during the TLS handshake: SSL\w*Error: .+ \(_ssl\.c:\d+\)",
        line,
    ), line


async def test_data_connection_reset_during_the_handshake_is_logged_with_the_reason(
    start_server: StartServer, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trioftp")
    _, client = await secured(start_server, certs)
    port = client.transport.socket.getsockname()[1]
    stream = await client.pasv()
    assert (await client.cmd("LIST")).code in (125, 150)
    reset_connection(stream)
    assert (await client.reply()).first == DATA_TLS_FAILED
    (line,) = tls_failures(caplog)
    assert line == (
        f"127.0.0.1:{port}-[user] TLS handshake on the data connection failed: "
        "socket connection broken: [Errno 104] Connection reset by peer: "
        "ConnectionResetError: [Errno 104] Connection reset by peer"
    )


# --- the stream itself, over memory streams


@pytest.fixture(scope="module")
def server_context(certs: Certs) -> ssl.SSLContext:
    return build_context(TLSSettings(certs.certfile, certs.keyfile, ssl.PROTOCOL_TLS_SERVER, None))


@pytest.fixture
async def connected(
    certs: Certs, server_context: ssl.SSLContext
) -> tuple[trio.SSLStream[trio.abc.Stream], DataTLSStream]:
    """A client ``trio.SSLStream`` and the server's :class:`DataTLSStream`, handshaken."""
    client_end, server_end = trio.testing.memory_stream_pair()
    return await handshaken(certs, client_end, DataTLSStream(server_end, server_context))


ServerStream = TypeVar("ServerStream", DataTLSStream, OpenSSLStream)


async def handshaken(
    certs: Certs, client_end: trio.abc.Stream, server: ServerStream
) -> tuple[trio.SSLStream[trio.abc.Stream], ServerStream]:
    """A client ``trio.SSLStream`` over *client_end*, and *server*, after their handshake."""
    client = trio.SSLStream(
        client_end, client_context(certs.ca), server_hostname="127.0.0.1", https_compatible=False
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.do_handshake)
        await server.do_handshake()
    return client, server


async def test_one_receive_returns_every_complete_record(
    connected: tuple[trio.SSLStream[trio.abc.Stream], DataTLSStream],
) -> None:
    client, server = connected
    data = bytes(range(256)) * (10 * RECORD // 256)
    await client.send_all(data)  # ten records
    assert await server.receive_some() == data


async def test_a_cancelled_receive_loses_no_byte(
    connected: tuple[trio.SSLStream[trio.abc.Stream], DataTLSStream],
) -> None:
    client, server = connected
    with trio.CancelScope() as scope:
        scope.cancel()
        await server.receive_some()
    await client.send_all(b"first")
    with trio.move_on_after(0) as late:  # cancelled before it can start
        await server.receive_some()
    assert late.cancelled_caught
    await client.send_all(b" second")
    await client.aclose()
    assert await read_all(server) == b"first second"


async def test_receive_into_decrypts_every_complete_record_into_the_buffer(
    connected: tuple[trio.SSLStream[trio.abc.Stream], DataTLSStream],
) -> None:
    client, server = connected
    data = bytes(range(256)) * (10 * RECORD // 256)
    await client.send_all(data)  # ten records
    buffer = bytearray(len(data) + 100)
    assert await server.receive_into(memoryview(buffer)) == len(data)
    assert buffer[: len(data)] == data
    await client.aclose()
    assert await server.receive_into(memoryview(buffer)) == 0  # close_notify


async def test_receive_into_over_a_socket_stops_at_the_buffer_and_keeps_the_rest(
    certs: Certs, server_context: ssl.SSLContext
) -> None:
    client_socket, server_socket = trio.socket.socketpair()
    client, server = await handshaken(
        certs,
        trio.SocketStream(client_socket),
        DataTLSStream(trio.SocketStream(server_socket), server_context),
    )
    data = bytes(range(256)) * (3 * RECORD // 256)
    await client.send_all(data)
    await client.aclose()
    received = bytearray()
    buffer = bytearray(5000)  # smaller than a record: the rest waits in the TLS layer
    while count := await server.receive_into(memoryview(buffer)):
        assert count <= len(buffer)
        received += buffer[:count]
    assert received == data


async def test_a_second_task_waits_for_the_running_handshake(
    certs: Certs, server_context: ssl.SSLContext
) -> None:
    client_end, server_end = trio.testing.memory_stream_pair()
    client = trio.SSLStream(client_end, client_context(certs.ca), server_hostname="127.0.0.1")
    server = DataTLSStream(server_end, server_context)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.do_handshake)
        nursery.start_soon(client.do_handshake)
        await server.do_handshake()  # waits for the first task's
    assert server.version() is not None


async def test_a_failed_handshake_fails_its_waiters_too(
    server_context: ssl.SSLContext,
) -> None:
    client_end, server_end = trio.testing.memory_stream_pair()
    server = DataTLSStream(server_end, server_context)
    errors: list[BaseException] = []

    async def handshake() -> None:
        try:
            await server.do_handshake()
        except trio.BrokenResourceError as exc:
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(handshake)
        nursery.start_soon(handshake)
        await client_end.send_all(b"GET / HTTP/1.1\r\n\r\n")
    assert len(errors) == 2
    assert all(isinstance(error.__cause__, ssl.SSLError) for error in errors)
    with pytest.raises(trio.BrokenResourceError):
        await server.receive_some()


async def test_pyopenssl_streams_also_return_every_complete_record(certs: Certs) -> None:
    context = pyopenssl_context(certs)
    client_end, server_end = trio.testing.memory_stream_pair()
    client, server = await handshaken(certs, client_end, OpenSSLStream(server_end, context))
    data = bytes(range(256)) * (4 * RECORD // 256)
    await client.send_all(data)  # four records
    await client.aclose()
    assert await server.receive_some(len(data)) == data
    assert await server.receive_some() == b""
