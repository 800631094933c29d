"""The control connection: command lines in, replies out."""

from __future__ import annotations

import contextlib
import math

import trio

from ..protocol.framing import LineFramer, LineTooLong
from ..protocol.replies import format_reply

__all__ = ["ControlClosed", "ControlConnection"]

# Bytes asked of the socket per read: enough for many pipelined commands.
_RECEIVE_SIZE = 8192


class ControlClosed(Exception):
    """The client closed or reset the control connection; the session ends quietly."""


class ControlConnection:
    """Read command lines from and write replies to one control stream.

    Replies are queued by :meth:`push` (so synchronous handler code can
    answer) and written by :meth:`flush`. Connection errors, and a client
    that does not take its replies within *send_timeout* seconds, surface as
    :class:`ControlClosed`.
    """

    __slots__ = ("_out", "encoding", "errors", "framer", "send_timeout", "stream")

    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        encoding: str,
        errors: str,
        max_line: int,
        send_timeout: float | None = None,
    ) -> None:
        self.stream = stream
        self.framer = LineFramer(max_line)
        self.encoding = encoding
        self.errors = errors
        self.send_timeout = send_timeout or math.inf
        self._out: list[str] = []

    async def read_line(self) -> bytes | LineTooLong | None:
        """Return the next line (undecoded), a too-long marker, or None at EOF.

        Cancelling this call loses nothing: bytes are only consumed once read.
        """
        framer = self.framer
        while (line := framer.next_line()) is None:
            stream = self.stream
            try:
                data: bytes | bytearray
                if type(stream) is trio.SocketStream:  # the common case, one call shorter
                    data = await stream.socket.recv(_RECEIVE_SIZE)
                else:
                    data = await stream.receive_some(_RECEIVE_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                raise ControlClosed(str(exc)) from exc
            if not data:
                return None
            framer.feed(data)
        return line

    def push(self, reply: str) -> None:
        """Queue one reply (``"CODE text"``, maybe multi-line) for the next flush."""
        self._out.append(format_reply(reply))

    async def flush(self, *, bounded: bool = True) -> None:
        """Write every queued reply (within *send_timeout* unless the caller bounds it)."""
        if not self._out:
            return
        data = "".join(self._out).encode(self.encoding, self.errors)
        self._out.clear()
        try:
            if bounded:
                with trio.fail_after(self.send_timeout):
                    await self.stream.send_all(data)
            else:
                await self.stream.send_all(data)
        except trio.TooSlowError:
            raise ControlClosed("the client does not read its replies") from None
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise ControlClosed(str(exc)) from exc

    def discard(self) -> None:
        """Drop queued replies (the connection is being torn down)."""
        self._out.clear()

    async def aclose(self) -> None:
        """Close the stream, without waiting long on a peer that does not read."""
        if type(self.stream) is trio.SocketStream:  # closing a plain socket never waits
            await self.stream.aclose()
            return
        with trio.move_on_after(5) as scope:
            scope.shield = True
            with contextlib.suppress(trio.BrokenResourceError, OSError):
                await self.stream.aclose()
