"""A line protocol written against pyftpdlib's ioloop API: Acceptor, AsyncChat, Connector."""

from __future__ import annotations

import errno
import logging
import socket
from typing import Any
from unittest import mock

import pytest
import trio
import trio.testing

from trioftp.ioloop import Acceptor, AsyncChat, Connector, IOLoop


class EchoHandler(AsyncChat):
    """Echoes each line upper-cased; ``boom`` raises; ``bye`` ends the connection."""

    def __init__(self, sock: socket.socket, ioloop: IOLoop) -> None:
        AsyncChat.__init__(self, sock, ioloop=ioloop)
        self.set_terminator(b"\r\n")
        self.push(b"hello\r\n")

    def collect_incoming_data(self, data: bytes) -> None:
        self._collect_incoming_data(data)

    def found_terminator(self) -> None:
        line = self._get_data()
        if line == b"boom":
            raise RuntimeError("a bug in the handler")
        if line == b"bye":
            self.push(b"BYE\r\n")
            self.close_when_done()
        else:
            self.push(line.upper() + b"\r\n")


class EchoServer(Acceptor):
    def __init__(self, ioloop: IOLoop) -> None:
        Acceptor.__init__(self, ioloop=ioloop)
        self.bind_af_unspecified(("127.0.0.1", 0))
        self.listen(5)
        self.handlers: list[EchoHandler] = []

    @property
    def port(self) -> int:
        assert self.socket is not None
        return int(self.socket.getsockname()[1])

    def handle_accepted(self, sock: socket.socket, addr: Any) -> None:
        self.handlers.append(EchoHandler(sock, self.ioloop))


class LineClient(Connector):
    """Sends its lines one by one, each once the previous one was answered."""

    def __init__(self, port: int, lines: list[bytes], ioloop: IOLoop, on_close: Any = None) -> None:
        Connector.__init__(self, ioloop=ioloop)
        self.to_send = list(lines)
        self.received: list[bytes] = []
        self.on_close = on_close
        self.set_terminator(b"\r\n")
        self.connect_af_unspecified(("127.0.0.1", port))

    def handle_connect(self) -> None:
        self.connected_once = True

    def collect_incoming_data(self, data: bytes) -> None:
        self._collect_incoming_data(data)

    def found_terminator(self) -> None:
        self.received.append(self._get_data())
        if self.to_send:
            self.push(self.to_send.pop(0) + b"\r\n")

    def handle_close(self) -> None:
        self.close()
        if self.on_close is not None:
            self.on_close()


def test_echo_on_a_standalone_loop() -> None:
    loop = IOLoop.factory()
    server = EchoServer(loop)
    client = LineClient(port=server.port, lines=[b"one", b"two", b"bye"], ioloop=loop)
    client.on_close = server.close  # the last connection ends the whole program
    assert set(loop.socket_map.values()) == {server, client}
    loop.loop()
    assert client.received == [b"hello", b"ONE", b"TWO", b"BYE"]
    assert client.connected_once
    assert loop.socket_map == {}
    loop.close()


async def test_echo_in_a_trio_program_and_a_failing_handler(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    loop = IOLoop.factory()
    ended = trio.Event()
    async with loop.running():
        server = EchoServer(loop)
        broken = LineClient(server.port, [b"boom", b"never"], loop, on_close=ended.set)
        with caplog.at_level(logging.ERROR, logger="trioftp"):
            with trio.fail_after(10):
                await ended.wait()
        assert broken.received == [b"hello"]  # the handler was closed at the error
        (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert "uncaptured python exception" in error.getMessage()
        assert "RuntimeError: a bug in the handler" in caplog.text

        ended = trio.Event()
        fine = LineClient(server.port, [b"still", b"bye"], loop, on_close=ended.set)
        with trio.fail_after(10):
            await ended.wait()
        assert fine.received == [b"hello", b"STILL", b"BYE"]
        assert len(server.handlers) == 2
        assert list(loop.socket_map.values()) == [server]
        server.close()
    assert loop.socket_map == {}
    loop.close()


async def test_call_later_of_a_handler_is_cancelled_at_close(
    autojump_clock: trio.testing.MockClock,
) -> None:
    loop = IOLoop.factory()
    ends = socket.socketpair()
    ran: list[str] = []
    async with loop.running():
        chat = AsyncChat(ends[0], ioloop=loop)
        kept = chat.call_later(5, ran.append, "kept")
        chat.call_later(1, ran.append, "ran")
        await trio.sleep(2)
        chat.close()
        await trio.sleep(10)
    assert ran == ["ran"]
    assert kept.cancelled
    ends[1].close()
    loop.close()


async def test_a_push_with_producer_and_counted_terminator(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Chunks:
        def __init__(self) -> None:
            self.parts = [b"abc", b"defgh", b""]

        def more(self) -> bytes:
            return self.parts.pop(0)

    class Fixed(AsyncChat):
        def __init__(self, sock: socket.socket, ioloop: IOLoop) -> None:
            AsyncChat.__init__(self, sock, ioloop=ioloop)
            self.set_terminator(4)
            self.records: list[bytes] = []
            self.two = trio.Event()

        def collect_incoming_data(self, data: bytes) -> None:
            self._collect_incoming_data(data)

        def found_terminator(self) -> None:
            self.records.append(self._get_data())
            self.set_terminator(4)
            if len(self.records) == 2:
                self.two.set()

    loop = IOLoop.factory()
    left, right = socket.socketpair()
    async with loop.running():
        sender = AsyncChat(left, ioloop=loop)
        receiver = Fixed(right, loop)
        sender.push_with_producer(Chunks())
        sender.close_when_done()
        with trio.fail_after(10):
            await receiver.two.wait()
        assert receiver.records == [b"abcd", b"efgh"]
        receiver.close()
    assert loop.socket_map == {}
    loop.close()


def test_send_and_recv_errors() -> None:
    loop = IOLoop.factory()
    chat = AsyncChat(socket.socket(), ioloop=loop)
    assert not chat.connected  # an unconnected socket
    with mock.patch.object(socket.socket, "send", side_effect=BlockingIOError(errno.EAGAIN, "")):
        assert chat.send(b"x") == 0
    with (
        mock.patch.object(socket.socket, "recv", side_effect=OSError(errno.ECONNRESET, "")),
        mock.patch.object(chat, "handle_close") as handle_close,
    ):
        assert chat.recv(10) == b""
        assert handle_close.called
    chat.close()
    assert loop.socket_map == {}


def test_bind_and_connect_failures_leave_no_socket() -> None:
    loop = IOLoop.factory()
    acceptor = Acceptor(ioloop=loop)
    with (
        mock.patch.object(acceptor, "bind", side_effect=OSError(errno.EBADF, "")),
        pytest.raises(OSError, match=r"Errno 9"),
    ):
        acceptor.bind_af_unspecified(("localhost", 0))
    assert acceptor.socket is None
    connector = Connector(ioloop=loop)
    with (
        mock.patch.object(connector, "connect", side_effect=OSError(errno.EBADF, "")),
        pytest.raises(OSError, match=r"Errno 9"),
    ):
        connector.connect_af_unspecified(("localhost", 0))
    assert connector.socket is None
    assert loop.socket_map == {}
    for error in (TypeError(), OSError(errno.ECONNABORTED, "")):
        with mock.patch.object(acceptor, "accept", side_effect=error):
            acceptor.handle_accept()  # ignored, as in pyftpdlib
