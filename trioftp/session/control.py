"""The control connection: command lines in, replies out, TLS on and off.

:class:`ControlChannel` owns the control stream, the line framer, the queue
of replies not yet written and the commands held while a transfer runs.
FTPS switches the stream with :meth:`ControlChannel.start_tls` (which drops
every byte of plaintext that came before it) and :meth:`ControlChannel.stop_tls`
(CCC).
"""

from __future__ import annotations

import collections
import contextlib
import math
import os
import sys

import trio

from ..protocol.framing import LineFramer, LineTooLong
from ..protocol.replies import Reply

__all__ = ["ControlChannel", "ControlClosed", "Line", "socket_descriptor", "stream_addresses"]

# Bytes asked of the socket per read: enough for many pipelined commands.
_RECEIVE_SIZE = 8192
# Plain sockets are read and written by descriptor where that works (POSIX):
# one scheduler pass per command line instead of the three trio's socket
# methods take (see ControlChannel.read_line and flush).
_BY_DESCRIPTOR = os.name == "posix"

#: A received command line (undecoded), or the marker of one that was too long.
Line = bytes | LineTooLong


class ControlClosed(Exception):
    """The client closed or reset the control connection; the session ends quietly."""


class ControlChannel:
    """Read command lines from and write replies to one control stream.

    Replies are queued by :meth:`push` (so synchronous handler code can
    answer) and written by :meth:`flush`. Connection errors, and a client
    that does not take its replies within *send_timeout* seconds, surface as
    :class:`ControlClosed`.
    """

    __slots__ = (
        "_framer",
        "_held",
        "_line_waited",
        "_out",
        "_sending",
        "_stream",
        "encoding",
        "errors",
        "last_code",
        "last_text",
        "lines_read",
        "send_timeout",
    )

    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        encoding: str,
        errors: str,
        max_line: int,
        send_timeout: float | None = None,
    ) -> None:
        self._stream = stream
        self._framer = LineFramer(max_line)
        self.encoding = encoding
        self.errors = errors
        self.send_timeout = send_timeout or math.inf
        self._out: list[str] = []
        self._sending = False
        self._held: collections.deque[Line] | None = None
        #: The code of the last reply queued (0: none yet).
        self.last_code = 0
        #: The first line of the last reply queued, without its code.
        self.last_text = ""
        #: Command lines received so far.
        self.lines_read = 0
        self._line_waited = True  # see has_queued

    @property
    def stream(self) -> trio.abc.Stream:
        """The stream replies go out on (a TLS stream after :meth:`start_tls`)."""
        return self._stream

    # --- lines in

    @property
    def buffered(self) -> int:
        """Bytes received that are not a whole line yet.

        Never more than the longest line (``max_line_length``) plus one read
        of the socket: the bytes of a line past the cap are dropped as they
        come, so a client that never ends its line holds no more memory.
        """
        return self._framer.buffered

    async def read_line(self) -> Line | None:
        """Return the next line (undecoded), a too-long marker, or None at EOF.

        Cancelling this call loses nothing: bytes are only consumed once read.
        """
        framer = self._framer
        waited = False
        while (line := framer.next_line()) is None:
            stream = self._stream
            try:
                data: bytes | bytearray | None
                if type(stream) is trio.SocketStream:  # the common case, one call shorter
                    if _BY_DESCRIPTOR:
                        # What sock.recv does, inline (idle sessions are many, and
                        # each waits here: no coroutine of its own), with one
                        # scheduler pass instead of two when the bytes must be
                        # waited for, and one instead of none when they were
                        # there already (pipelined commands let others run).
                        sock = stream.socket
                        await trio.lowlevel.checkpoint_if_cancelled()  # (no pass unless cancelled)
                        data = _read_now(sock.fileno())
                        if data is not None:
                            await trio.lowlevel.cancel_shielded_checkpoint()  # never lose them
                        else:
                            waited = True
                            await trio.lowlevel.wait_readable(sock)
                            data = _read_now(sock.fileno())
                            if data is None:  # woken with nothing to read after all
                                data = await sock.recv(_RECEIVE_SIZE)
                    else:
                        waited = True  # (not known: taken as waited)
                        data = await stream.socket.recv(_RECEIVE_SIZE)
                else:
                    data = await stream.receive_some(_RECEIVE_SIZE)
                    waited = waited or getattr(stream, "receive_waited", True)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                raise ControlClosed(str(exc)) from exc
            if not data:
                return None
            framer.feed(data)
        self.lines_read += 1
        self._line_waited = waited
        return line

    def has_queued(self) -> bool:
        """True if the client is sending commands ahead of the replies.

        That is: the last line read was there without waiting for the
        client (it was sent before the client could have read our last
        reply), more bytes are buffered behind it, or commands are held.
        A client that waits for each reply makes :meth:`read_line` wait.
        """
        return not self._line_waited or self._framer.buffered > 0 or bool(self._held)

    def next_held(self) -> Line | None:
        """The oldest held command, taken from the queue (None if none is held)."""
        return self._held.popleft() if self._held else None

    def hold(self, line: Line) -> None:
        """Keep *line* to run after the transfer that is running now."""
        if self._held is None:
            self._held = collections.deque()
        self._held.append(line)

    @property
    def held(self) -> int:
        """How many commands are held."""
        return len(self._held) if self._held else 0

    # --- replies out

    def push(self, reply: Reply) -> None:
        """Queue one reply for the next flush."""
        self._out.append(reply.wire())
        self.last_code = reply.code
        self.last_text = reply.lines[0]

    def push_line(self, code: int, line: str) -> None:
        """Queue the one-line reply *line* (``"CODE text"``, no line break) of *code*."""
        self._out.append(line + "\r\n")
        self.last_code = code
        self.last_text = line[4:]

    def push_raw(self, text: str) -> None:
        """Queue *text* as it is (pyftpdlib's ``push``): the caller frames it."""
        self._out.append(text)
        if text[:3].isdigit():
            self.last_code = int(text[:3])
            self.last_text = text[4:].partition("\n")[0].rstrip("\r")

    async def flush(self, *, bounded: bool = True) -> None:
        """Write every queued reply (within *send_timeout* unless the caller bounds it)."""
        if not self._out:
            return
        text = "".join(self._out)
        self._out.clear()
        data: bytes | memoryview = text.encode(self.encoding, self.errors)
        stream = self._stream
        try:
            if _BY_DESCRIPTOR and type(stream) is trio.SocketStream and not self._sending:
                # Replies are small: the socket buffer nearly always takes them
                # at once, with no need to wait (and so no scheduler pass). A
                # cancelled session (closed, banned) sends nothing more, as
                # with send_all.
                await trio.lowlevel.checkpoint_if_cancelled()
                with contextlib.suppress(BlockingIOError):
                    sent = os.write(stream.socket.fileno(), data)
                    if sent == len(data):
                        return
                    data = memoryview(data)[sent:]
            self._sending = True
            try:
                if bounded:
                    with trio.fail_after(self.send_timeout):
                        await stream.send_all(data)
                else:
                    await stream.send_all(data)
            finally:
                self._sending = False
        except trio.TooSlowError:
            raise ControlClosed("the client does not read its replies") from None
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise ControlClosed(str(exc)) from exc

    def discard(self) -> None:
        """Drop queued replies (the connection is being torn down)."""
        self._out.clear()

    # --- TLS

    def start_tls(self, tls: trio.abc.Stream) -> None:
        """Continue on *tls*, a TLS stream over the current one.

        Plaintext a client sent after asking for TLS - still unparsed, or
        held during a transfer - is thrown away, never run (CVE-2011-1575).
        """
        self._framer.discard_buffered()
        if self._held:
            self._held.clear()
        self._stream = tls

    def stop_tls(self, transport: trio.abc.Stream, trailing: bytes) -> None:
        """Continue in clear text on *transport* (CCC); *trailing* came after the TLS end."""
        self._stream = transport
        self._framer.feed(trailing)

    async def aclose(self) -> None:
        """Close the stream, without waiting long on a peer that does not read."""
        if type(self._stream) is trio.SocketStream:  # closing a plain socket never waits
            await self._stream.aclose()
            return
        with trio.move_on_after(5) as scope:
            scope.shield = True
            with contextlib.suppress(trio.BrokenResourceError, OSError):
                await self._stream.aclose()


def stream_addresses(stream: trio.abc.Stream) -> tuple[tuple[str, int], tuple[str, int]]:
    """The local and peer addresses of the socket under *stream* (zeros if none)."""
    inner: object = stream
    while not isinstance(inner, trio.SocketStream):
        inner = getattr(inner, "transport_stream", None)
        if inner is None:
            return ("0.0.0.0", 0), ("0.0.0.0", 0)
    local = inner.socket.getsockname()
    try:
        remote = inner.socket.getpeername()
    except OSError:
        remote = ("0.0.0.0", 0)
    # Interned: the sessions on one local address, or from one client, share the text.
    return (sys.intern(str(local[0])), int(local[1])), (sys.intern(str(remote[0])), int(remote[1]))


def socket_descriptor(stream: trio.abc.Stream) -> int | None:
    """The file descriptor of the socket under *stream* (None: no socket, or closed)."""
    inner: object = stream
    while not isinstance(inner, trio.SocketStream):
        inner = getattr(inner, "transport_stream", None)
        if inner is None:
            return None
    fd = inner.socket.fileno()
    return fd if fd >= 0 else None


def _read_now(fd: int) -> bytes | None:
    """What the socket *fd* has received (up to ``_RECEIVE_SIZE`` bytes), None if nothing yet.

    A function of its own, so the BlockingIOError is raised and dropped in
    this short-lived frame: raised in :meth:`ControlChannel.read_line`, its
    traceback would give that coroutine a frame object (~200 bytes) that
    lives as long as the session waits (and waiting in the ``except`` clause
    would keep the exception too).
    """
    try:
        return os.read(fd, _RECEIVE_SIZE)
    except BlockingIOError:
        return None
