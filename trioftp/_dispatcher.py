"""asyncore's dispatcher on Trio: the base of ``AsyncChat``, ``Connector`` and ``Acceptor``.

A :class:`Dispatcher` owns a non-blocking socket and asyncore's methods on
it (``create_socket``, ``bind``, ``listen``, ``accept``, ``connect``,
``send``, ``recv``, ``close``) and its events (``handle_read``,
``handle_write``, ``handle_connect``, ``handle_accept``, ``handle_close``,
``handle_error``). It sits in its :class:`~trioftp._eventloop.IOLoop`'s
socket map while its socket is open.

Each instance with a socket to watch runs as a task of its loop (see
:meth:`IOLoop.spawn <trioftp._eventloop.IOLoop.spawn>`): the task waits with
Trio until the socket is readable or writable, as the instance's state and
its ``readable()``/``writable()`` ask, and calls the ``handle_*_event``
method asyncore's poller would. They are plain methods running on the
loop's thread; an exception in one is given to ``handle_error``, which logs
it and closes this instance only. ``readable()``/``writable()`` are asked
again after each event of the instance and whenever it calls ``_poke()``
(``push``, ``close_when_done``, ``listen``, ``connect`` do).
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from typing import Any

import trio

from ._eventloop import IOLoop
from ._scheduler import CallLater
from .exceptions import _RetryError
from .log import logger

__all__ = ["ERRNOS_DISCONNECTED", "ERRNOS_RETRY", "Dispatcher"]

#: Errors that mean the connection is gone.
ERRNOS_DISCONNECTED = frozenset(
    {
        errno.ECONNRESET,
        errno.ENOTCONN,
        errno.ESHUTDOWN,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.EBADF,
        errno.ETIMEDOUT,
    }
)
#: Errors that mean "not now, try again".
ERRNOS_RETRY = frozenset({errno.EAGAIN, errno.EWOULDBLOCK})


class Dispatcher:
    """A socket and asyncore's events on it, served by a task of an :class:`IOLoop`."""

    connected = False
    accepting = False
    connecting = False
    addr: Any = None

    def __init__(self, sock: socket.socket | None = None, ioloop: IOLoop | None = None) -> None:
        """Serve the connected socket *sock*, or none yet (see ``create_socket``)."""
        self.ioloop = ioloop or IOLoop.instance()
        self.socket: socket.socket | None = None
        self._fileno: int | None = None
        self._closed = False
        self._closing = False
        self._tasks: list[CallLater] = []
        self._spawned = False
        self._task_token: trio.lowlevel.TrioToken | None = None
        self._changed: trio.lowlevel.ParkingLot | None = None
        if sock is not None:
            sock.setblocking(False)
            self.set_socket(sock)
            self.connected = True
            try:
                self.addr = sock.getpeername()
            except OSError as err:
                if err.errno not in (errno.ENOTCONN, errno.EINVAL):
                    self.del_channel()
                    raise
                self.connected = False
            self._poke()

    def __repr__(self) -> str:
        status = [f"{type(self).__module__}.{type(self).__qualname__}"]
        if self.accepting and self.addr:
            status.append("listening")
        elif self.connected:
            status.append("connected")
        if self.addr is not None:
            try:
                status.append(f"{self.addr[0]}:{self.addr[1]}")
            except (TypeError, IndexError):
                status.append(repr(self.addr))
        return f"<{' '.join(status)} at {id(self):#x}>"

    # --- the socket

    def create_socket(self, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM) -> None:
        """Create the (non-blocking) socket of this instance."""
        sock = socket.socket(family, type)
        sock.setblocking(False)
        self.set_socket(sock)

    def set_socket(self, sock: socket.socket) -> None:
        """Use *sock*; it joins the loop's socket map."""
        self.socket = sock
        self._fileno = sock.fileno()
        self.add_channel()

    def add_channel(self) -> None:
        """Enter the loop's socket map."""
        if self._fileno is not None:
            self.ioloop.register(self._fileno, self, self.ioloop.READ)

    def del_channel(self) -> None:
        """Leave the loop's socket map."""
        if self._fileno is not None:
            self.ioloop.unregister(self._fileno, self)

    def set_reuse_addr(self) -> None:
        """Allow binding an address in TIME_WAIT (not on Windows, where it means more)."""
        if self.socket is not None and os.name != "nt":
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def bind(self, addr: Any) -> None:
        """Bind the socket to *addr*."""
        self.addr = addr
        self._sock().bind(addr)

    def listen(self, num: int) -> None:
        """Listen, with a backlog of *num*; ``handle_accept`` is called for each connection."""
        self.accepting = True
        self._sock().listen(num)
        self._poke()

    def accept(self) -> tuple[socket.socket, Any] | None:
        """Accept a connection: ``(sock, addr)``, or None if none is waiting."""
        try:
            return self._sock().accept()
        except TypeError:
            return None
        except OSError as err:
            if err.errno in (errno.EWOULDBLOCK, errno.ECONNABORTED, errno.EAGAIN):
                return None
            raise

    def connect(self, address: Any) -> None:
        """Start connecting to *address*; ``handle_connect`` is called once connected."""
        self.connected = False
        self.connecting = True
        err = self._sock().connect_ex(address)
        if err in (errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK):
            self.addr = address
            self._poke()
            return
        if err in (0, errno.EISCONN):
            self.addr = address
            self.handle_connect_event()
            self._poke()
            return
        raise OSError(err, errno.errorcode.get(err, str(err)))

    def connect_af_unspecified(
        self, addr: tuple[str, int], source_address: tuple[str, int] | None = None
    ) -> int:
        """Connect to *addr* with the first address family that works; return that family."""
        if self.socket is not None:
            raise RuntimeError("already has a socket")
        host, port = addr
        error: OSError | str = "getaddrinfo() returned an empty list"
        for family, kind, _, _, _ in socket.getaddrinfo(
            host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        ):
            self.socket = None
            try:
                self.create_socket(family, kind)
                if source_address:
                    if source_address[0].startswith("::ffff:"):  # IPv4 mapped into IPv6
                        source_address = (source_address[0][7:], source_address[1])
                    self.bind(source_address)
                self.connect((host, port))
            except OSError as exc:
                error = exc
                self._drop_socket()
                continue
            return family
        raise OSError(error) if isinstance(error, str) else error

    def send(self, data: bytes | bytearray | memoryview) -> int:
        """Send what the socket takes of *data*: 0 if it takes nothing now or is gone."""
        try:
            return self._sock().send(data)
        except OSError as err:
            if err.errno in ERRNOS_RETRY:
                return 0
            if err.errno in ERRNOS_DISCONNECTED:
                self.handle_close()
                return 0
            raise

    def recv(self, buffer_size: int) -> bytes:
        """Read up to *buffer_size* bytes; ``b""`` once the peer is gone (closed here)."""
        try:
            data = self._sock().recv(buffer_size)
        except OSError as err:
            if err.errno in ERRNOS_DISCONNECTED:
                self.handle_close()
                return b""
            if err.errno in ERRNOS_RETRY:
                raise _RetryError from err
            raise
        if not data:
            self.handle_close()
        return data

    def close(self) -> None:
        """Close the socket, leave the socket map, cancel this instance's ``call_later``."""
        if self._closed:
            return
        self._closed = True
        self.connected = self.accepting = self.connecting = self._closing = False
        try:
            self.del_channel()
            if self.socket is not None:
                self._close_socket(self.socket)
        finally:
            for call in self._tasks:
                try:
                    call.cancel()
                except Exception as exc:
                    logger.exception(f"cancelling {call!r} failed: {exc!r}")
            self._tasks = []
            self._poke()

    def _sock(self) -> socket.socket:
        if self.socket is None:
            raise OSError(errno.EBADF, "no socket")
        return self.socket

    def _drop_socket(self) -> None:
        if self.socket is not None:
            self.del_channel()
            self.socket.close()
        self.socket = self._fileno = None

    def _close_socket(self, sock: socket.socket) -> None:
        """Close *sock*, waking this instance's task first (in the run it belongs to)."""
        token = self._task_token
        try:
            current = trio.lowlevel.current_trio_token()
        except RuntimeError:
            current = None
        if token is not None and token is not current:
            token.run_sync_soon(self._close_socket_now, sock)
        else:
            self._close_socket_now(sock)

    def _close_socket_now(self, sock: socket.socket) -> None:
        if self._task_token is not None:
            trio.lowlevel.notify_closing(sock)
        sock.close()

    # --- the events (asyncore's names)

    def readable(self) -> bool:
        """Wait for incoming data? (Asked before each wait.)"""
        return True

    def writable(self) -> bool:
        """Wait until the socket can take data? (Asked before each wait.)"""
        return not self.connected

    def handle_read_event(self) -> None:
        if self.accepting:
            self.handle_accept()
        elif not self.connected:
            if self.connecting:
                self.handle_connect_event()
            self.handle_read()
        else:
            self.handle_read()

    def handle_write_event(self) -> None:
        if self.accepting:
            return
        if not self.connected and self.connecting:
            self.handle_connect_event()
        self.handle_write()

    def handle_connect_event(self) -> None:
        err = self._sock().getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, os.strerror(err))
        self.handle_connect()
        self.connected = True
        self.connecting = False

    def handle_read(self) -> None:
        self.log_info("unhandled read event", "warning")

    def handle_write(self) -> None:
        self.log_info("unhandled write event", "warning")

    def handle_connect(self) -> None:
        self.log_info("unhandled connect event", "warning")

    def handle_accept(self) -> None:
        try:
            pair = self.accept()
        except TypeError:  # some systems' accept() returned None (pyftpdlib issue 91)
            return
        except OSError as err:
            if err.errno != errno.ECONNABORTED:  # the client gave up already (issue 105)
                raise
            return
        if pair is not None and pair[1] is not None:
            self.handle_accepted(*pair)

    def handle_accepted(self, sock: socket.socket, addr: Any) -> None:
        sock.close()
        self.log_info("unhandled accepted event", "warning")

    def handle_close(self) -> None:
        self.close()

    def handle_error(self) -> None:
        """An exception escaped a handler: log it and close this instance."""
        logger.exception(f"uncaptured python exception, closing channel {self!r}")
        self.handle_close()

    def log_info(self, message: str, type: str = "info") -> None:
        """Log *message* at level *type* (``info``, ``warning``, ``error``)."""
        logger.log(logging.getLevelNamesMapping().get(type.upper(), logging.INFO), message)

    # --- pyftpdlib's additions

    def call_later(self, seconds: float, target: Any, *args: Any, **kwargs: Any) -> CallLater:
        """``ioloop.call_later``, cancelled when this closes; errors go to ``handle_error``."""
        kwargs.setdefault("_errback", self.handle_error)
        call = self.ioloop.call_later(seconds, target, *args, **kwargs)
        self._tasks.append(call)
        return call

    # --- the task

    def _poke(self) -> None:
        """Something changed: start the task if needed, let it look again."""
        if not self._spawned and self.socket is not None and not self._closed:
            self._spawned = True
            self.ioloop.spawn(self)
        elif self._changed is not None and self._task_token is _current_token():
            self._changed.unpark_all()

    async def run_dispatcher(self) -> None:
        """Serve the socket's events until closed (the loop runs this as a task)."""
        self._task_token = trio.lowlevel.current_trio_token()
        self._changed = trio.lowlevel.ParkingLot()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch, True)
                nursery.start_soon(self._watch, False)
        finally:
            self._task_token = None
            self._changed = None

    async def _watch(self, reading: bool) -> None:
        changed = self._changed
        assert changed is not None
        while not self._closed:
            sock = self.socket
            if reading:
                wanted = self.accepting or (self.connected and self.readable())
            else:
                wanted = self.connecting or (self.connected and self.writable())
            if sock is None or not wanted:
                await changed.park()
                continue
            try:
                if reading:
                    await trio.lowlevel.wait_readable(sock)
                else:
                    await trio.lowlevel.wait_writable(sock)
            except (trio.ClosedResourceError, OSError):
                return
            if self._closed or sock is not self.socket:
                continue
            try:
                if reading:
                    self.handle_read_event()
                else:
                    self.handle_write_event()
            except Exception:
                self._handle_error()
            changed.unpark_all()

    def _handle_error(self) -> None:
        try:
            self.handle_error()
        except Exception as exc:
            logger.critical(f"handle_error of {self!r} failed: {exc!r}", exc_info=True)
            self.close()


def _current_token() -> trio.lowlevel.TrioToken | None:
    try:
        return trio.lowlevel.current_trio_token()
    except RuntimeError:
        return None
