"""pyftpdlib's ``AsyncChat``, ``Connector`` and ``Acceptor`` (asynchat's API) on Trio.

Code that writes its own protocol handlers against pyftpdlib's ``ioloop``
subclasses these and overrides asynchat's hooks: ``collect_incoming_data``
and ``found_terminator`` (with ``set_terminator``) to read,
``push``/``push_with_producer``/``close_when_done`` to write,
``handle_accepted`` to serve new connections, ``handle_connect``,
``handle_close`` and ``handle_error``. The socket, its events and the task
that serves them are :class:`~trioftp._dispatcher.Dispatcher`'s.
"""

from __future__ import annotations

import collections
import socket
from typing import Any, Protocol

from ._dispatcher import Dispatcher
from ._eventloop import IOLoop
from .exceptions import _RetryError

__all__ = ["Acceptor", "AsyncChat", "Connector", "Producer"]


class Producer(Protocol):
    """What ``push_with_producer`` takes: ``more()`` returns the next bytes, ``b""`` at the end."""

    def more(self) -> bytes: ...


class AsyncChat(Dispatcher):
    """A full-duplex connection in asynchat's style: terminators in, producers out."""

    #: Bytes read at a time; bytes sent at a time.
    ac_in_buffer_size = 65536
    ac_out_buffer_size = 65536
    #: Encode ``str`` pushed or set as terminator with :attr:`encoding`.
    use_encoding = 0
    encoding = "latin-1"

    def __init__(self, sock: socket.socket | None = None, ioloop: IOLoop | None = None) -> None:
        """Serve the connected socket *sock*, or none yet (see ``create_socket``)."""
        self.ac_in_buffer = b""
        self.incoming: list[bytes] = []
        self.producer_fifo: collections.deque[Any] = collections.deque()
        self.terminator: bytes | int | None = None
        Dispatcher.__init__(self, sock, ioloop)

    # --- reading up to a terminator

    def set_terminator(self, term: bytes | str | int | None) -> None:
        """Call ``found_terminator`` at *term* (bytes), after *term* bytes (int), or never."""
        if isinstance(term, str) and self.use_encoding:
            term = term.encode(self.encoding)
        elif isinstance(term, int) and term < 0:
            raise ValueError("the number of received bytes must be positive")
        self.terminator = term  # type: ignore[assignment]

    def get_terminator(self) -> bytes | int | None:
        """The current terminator."""
        return self.terminator

    def collect_incoming_data(self, data: bytes) -> None:
        """Called with the data read before the terminator (override it)."""
        raise NotImplementedError("must be implemented in subclass")

    def found_terminator(self) -> None:
        """Called when the terminator was read (override it)."""
        raise NotImplementedError("must be implemented in subclass")

    def _collect_incoming_data(self, data: bytes) -> None:
        self.incoming.append(data)

    def _get_data(self) -> bytes:
        data = b"".join(self.incoming)
        del self.incoming[:]
        return data

    def handle_read(self) -> None:
        """Read what arrived and split it at the terminator."""
        try:
            data = self.recv(self.ac_in_buffer_size)
        except _RetryError:
            return
        self.ac_in_buffer += data
        while self.ac_in_buffer:
            buffer = self.ac_in_buffer
            terminator = self.get_terminator()
            if not terminator:
                self.collect_incoming_data(buffer)
                self.ac_in_buffer = b""
            elif isinstance(terminator, int):
                if len(buffer) < terminator:
                    self.collect_incoming_data(buffer)
                    self.ac_in_buffer = b""
                    self.terminator = terminator - len(buffer)
                else:
                    self.collect_incoming_data(buffer[:terminator])
                    self.ac_in_buffer = buffer[terminator:]
                    self.terminator = 0
                    self.found_terminator()
            else:
                index = buffer.find(terminator)
                if index != -1:
                    if index > 0:
                        self.collect_incoming_data(buffer[:index])
                    self.ac_in_buffer = buffer[index + len(terminator) :]
                    self.found_terminator()
                    continue
                kept = _prefix_at_end(buffer, terminator)
                if kept:
                    if kept != len(buffer):  # keep what may be the terminator's start
                        self.collect_incoming_data(buffer[:-kept])
                        self.ac_in_buffer = buffer[-kept:]
                    break
                self.collect_incoming_data(buffer)
                self.ac_in_buffer = b""

    # --- writing

    def push(self, data: bytes | str) -> None:
        """Queue *data* to send."""
        if isinstance(data, str) and self.use_encoding:
            data = data.encode(self.encoding)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be byte-ish ({type(data)!r})")
        size = self.ac_out_buffer_size
        if len(data) > size:
            for start in range(0, len(data), size):
                self.producer_fifo.append(data[start : start + size])
        else:
            self.producer_fifo.append(data)
        self.initiate_send()

    def push_with_producer(self, producer: Producer) -> None:
        """Queue what *producer*'s ``more()`` returns, until it returns ``b""``."""
        self.producer_fifo.append(producer)
        self.initiate_send()

    def close_when_done(self) -> None:
        """Close once everything queued is sent."""
        if not self.producer_fifo:
            self.handle_close()
        else:
            self._closing = True
            self.producer_fifo.append(None)
            self._poke()

    def discard_buffers(self) -> None:
        """Drop what was read and what waits to be sent."""
        self.ac_in_buffer = b""
        del self.incoming[:]
        self.producer_fifo.clear()

    def initiate_send(self) -> None:
        """Send the next chunk that the socket takes now."""
        fifo = self.producer_fifo
        while fifo and self.connected:
            first = fifo[0]
            if not first:
                del fifo[0]
                if first is None:
                    self.handle_close()
                    return
                continue
            size = self.ac_out_buffer_size
            if isinstance(first, (bytes, bytearray, memoryview)):
                data = first[:size]
            else:
                data = first.more()
                if data:
                    fifo.appendleft(data)
                else:
                    del fifo[0]
                continue
            try:
                sent = self.send(data)
            except OSError:
                self.handle_error()
                return
            if sent:
                if sent < len(data) or size < len(first):
                    fifo[0] = first[sent:]
                else:
                    del fifo[0]
            break
        self._poke()

    def writable(self) -> bool:
        """Wait to send? True while something is queued (or a connect is in progress)."""
        return bool(self.producer_fifo) or not self.connected

    def handle_write(self) -> None:
        self.initiate_send()


class Connector(AsyncChat):
    """An :class:`AsyncChat` that connects out (``connect``, ``connect_af_unspecified``)."""


class Acceptor(AsyncChat):
    """An :class:`AsyncChat` that listens: ``handle_accepted(sock, addr)`` for each connection."""

    def bind_af_unspecified(self, addr: tuple[str, int]) -> int:
        """Create the socket and bind *addr* with the first family that works; return it.

        An empty host means every interface.
        """
        if self.socket is not None:
            raise RuntimeError("already has a socket")
        host: str | None = addr[0] or None
        error: OSError | str = "getaddrinfo() returned an empty list"
        for family, kind, _, _, sockaddr in socket.getaddrinfo(
            host, addr[1], socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        ):
            self.socket = None
            try:
                self.create_socket(family, kind)
                self.set_reuse_addr()
                self.bind(sockaddr)
            except OSError as exc:
                error = exc
                self._drop_socket()
                continue
            return family
        raise OSError(error) if isinstance(error, str) else error


def _prefix_at_end(haystack: bytes, needle: bytes) -> int:
    """How many bytes at the end of *haystack* are the start of *needle*."""
    length = len(needle) - 1
    while length and not haystack.endswith(needle[:length]):
        length -= 1
    return length
