"""The control connection's TLS stream (``ControlTLSStream``): CCC, the ends of the
connection, cancellation and one sender beside one receiver - over a TCP
connection (read and written by descriptor) and over memory streams."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from trioftp.tls.contexts import TLSSettings, build_context
from trioftp.tls.controlstream import ControlTLSStream
from trioftp.tls.records import TLS_RECORD_TYPES

from ..support.tlsclient import Certs, client_context, make_certs, reset_connection

Pair = tuple[trio.SSLStream[trio.abc.Stream], ControlTLSStream]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def server_context(certs: Certs) -> ssl.SSLContext:
    return build_context(TLSSettings(certs.certfile, certs.keyfile, ssl.PROTOCOL_TLS_SERVER, None))


async def tcp_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    """Both ends of a loopback TCP connection."""
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = trio.socket.socket()
    await client.connect(listener.getsockname())
    server, _ = await listener.accept()
    listener.close()
    return trio.SocketStream(client), trio.SocketStream(server)


class HeldSends(trio.abc.Stream):
    """A client's transport whose sends wait in a buffer while :attr:`hold` is set."""

    def __init__(self, transport: trio.abc.Stream) -> None:
        self.transport = transport
        self.hold = False
        self.held = b""

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self.hold:
            self.held += bytes(data)
            await trio.lowlevel.checkpoint()
        else:
            await self.transport.send_all(data)

    async def release(self, more: bytes) -> None:
        """Send what was held and *more* in one write."""
        self.hold = False
        data, self.held = self.held + more, b""
        await self.transport.send_all(data)

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.transport.receive_some(max_bytes)

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.transport.aclose()


@pytest.fixture(params=["tcp", "memory"])
async def ends(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[trio.abc.Stream, trio.abc.Stream]]:
    """The client's and the server's end of a connection (TCP: read by descriptor)."""
    if request.param == "tcp":
        client, server = await tcp_pair()
    else:
        client, server = trio.testing.memory_stream_pair()
    yield client, server
    await trio.aclose_forcefully(client)
    await trio.aclose_forcefully(server)


async def handshaken(
    certs: Certs,
    server_context: ssl.SSLContext,
    client_end: trio.abc.Stream,
    server_end: trio.abc.Stream,
) -> Pair:
    client = trio.SSLStream(
        client_end, client_context(certs.ca), server_hostname="127.0.0.1", https_compatible=False
    )
    server = ControlTLSStream(server_end, server_context)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.do_handshake)
        await server.do_handshake()
    return client, server


@pytest.fixture
async def connected(
    certs: Certs, server_context: ssl.SSLContext, ends: tuple[trio.abc.Stream, trio.abc.Stream]
) -> Pair:
    return await handshaken(certs, server_context, *ends)


async def test_lines_and_replies_go_through(connected: Pair) -> None:
    client, server = connected
    await client.send_all(b"USER a\r\n")
    assert await server.receive_some() == b"USER a\r\n"
    await server.send_all(b"331 Username ok, send password.\r\n")
    assert await client.receive_some() == b"331 Username ok, send password.\r\n"


async def test_pipelined_records_come_in_one_receive(connected: Pair) -> None:
    client, server = connected
    for line in (b"TYPE I\r\n", b"PASV\r\n", b"RETR f\r\n"):
        await client.send_all(line)  # a record each
    received = b""
    while len(received) < 22:
        received += await server.receive_some()
    assert received == b"TYPE I\r\nPASV\r\nRETR f\r\n"


async def test_ccc_with_close_notify_hands_back_what_followed(
    certs: Certs, server_context: ssl.SSLContext, ends: tuple[trio.abc.Stream, trio.abc.Stream]
) -> None:
    client_end, server_end = ends
    held = HeldSends(client_end)
    client, server = await handshaken(certs, server_context, held, server_end)
    await server.send_all(b"200 Clear Command Channel OK.\r\n")
    assert await client.receive_some() == b"200 Clear Command Channel OK.\r\n"
    results: list[tuple[trio.abc.Stream, bytes]] = []

    async def unwrap_server() -> None:
        results.append(await server.unwrap())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(unwrap_server)
        held.hold = True
        await client.unwrap()  # reads our close_notify, answers with its own (held)
        # Its close_notify and the next command in clear text, in one write.
        await held.release(b"PWD\r\n")
    ((transport, trailing),) = results
    assert transport is server_end
    assert trailing == b"PWD\r\n"
    with pytest.raises(trio.ClosedResourceError):
        await server.receive_some()
    await transport.send_all(b'257 "/"\r\n')
    assert await client_end.receive_some() == b'257 "/"\r\n'


async def test_ccc_after_the_peers_close_notify_hands_back_what_followed(
    certs: Certs, server_context: ssl.SSLContext, ends: tuple[trio.abc.Stream, trio.abc.Stream]
) -> None:
    """A client that sends CCC, its close_notify and clear text before any answer."""
    client_end, server_end = ends
    held = HeldSends(client_end)
    client, server = await handshaken(certs, server_context, held, server_end)
    async with trio.open_nursery() as nursery:
        held.hold = True
        await client.send_all(b"CCC\r\n")
        nursery.start_soon(client.unwrap)  # its close_notify (held), then waits for ours
        await trio.testing.wait_all_tasks_blocked()
        await held.release(b"PWD\r\n")  # all three in one write
        assert await server.receive_some() == b"CCC\r\n"
        assert await server.unwrap() == (server_end, b"PWD\r\n")


async def test_ccc_with_a_peer_going_on_in_clear_text(
    certs: Certs, server_context: ssl.SSLContext, ends: tuple[trio.abc.Stream, trio.abc.Stream]
) -> None:
    """curl's passive CCC: no close_notify back, the next command in clear text."""
    client_end, server_end = ends
    _, server = await handshaken(certs, server_context, client_end, server_end)
    async with trio.open_nursery() as nursery:
        results: list[tuple[trio.abc.Stream, bytes]] = []

        async def unwrap_server() -> None:
            results.append(await server.unwrap())

        nursery.start_soon(unwrap_server)
        close_notify = await client_end.receive_some()
        assert close_notify[0] in TLS_RECORD_TYPES
        await client_end.send_all(b"PWD\r\n")
    assert results == [(server_end, b"PWD\r\n")]


async def test_ccc_ends_broken_when_the_peer_goes_away(connected: Pair) -> None:
    client, server = connected
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.transport_stream.aclose)
        with pytest.raises(trio.BrokenResourceError):  # EOF, or a reset (our close_notify unread)
            await server.unwrap()


async def test_an_end_without_close_notify_is_the_end(connected: Pair) -> None:
    client, server = connected
    await client.send_all(b"QUIT\r\n")
    await client.transport_stream.aclose()  # no close_notify
    assert await server.receive_some() == b"QUIT\r\n"
    assert await server.receive_some() == b""


async def test_close_notify_is_the_end_and_the_server_sends_its_own(connected: Pair) -> None:
    client, server = connected
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.aclose)  # sends close_notify, waits for ours
        assert await server.receive_some() == b""
        await server.aclose()


async def test_a_reset_breaks_the_stream(certs: Certs, server_context: ssl.SSLContext) -> None:
    client_end, server_end = await tcp_pair()
    client, server = await handshaken(certs, server_context, client_end, server_end)
    await client.send_all(b"NOOP\r\n")
    reset_connection(client_end)
    assert await server.receive_some() == b"NOOP\r\n"
    with pytest.raises(trio.BrokenResourceError, match="reset"):
        await server.receive_some()
    await server.aclose()  # no close_notify can go: just closes


async def test_a_cancelled_receive_loses_no_byte(connected: Pair) -> None:
    client, server = connected
    async with trio.open_nursery() as nursery:  # cancelled while waiting for bytes
        nursery.start_soon(server.receive_some)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    await client.send_all(b"first")
    with trio.CancelScope() as scope:  # cancelled before it can start
        scope.cancel()
        await server.receive_some()
    assert scope.cancelled_caught
    await client.send_all(b" second")
    received = b""
    while len(received) < 12:
        received += await server.receive_some()
    assert received == b"first second"


async def test_a_reply_goes_out_while_a_receive_waits(connected: Pair) -> None:
    client, server = connected
    received: list[bytes | bytearray] = []

    async def receive() -> None:
        received.append(await server.receive_some())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError):
            await server.receive_some()
        big = b"211-" + b"x" * 1_000_000 + b"\r\n"  # more than the socket takes at once
        async with trio.open_nursery() as sending:
            sending.start_soon(server.send_all, big)
            got = b""
            while len(got) < len(big):
                got += await client.receive_some()
        assert got == big
        await client.send_all(b"ABOR\r\n")
    assert received == [b"ABOR\r\n"]


async def test_a_second_sender_is_refused(certs: Certs, server_context: ssl.SSLContext) -> None:
    client, server = await handshaken(certs, server_context, *await tcp_pair())
    big = b"x" * 4_000_000
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.send_all, big)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError):
            await server.send_all(b"200 again\r\n")
        got = 0
        while got < len(big):
            got += len(await client.receive_some())
