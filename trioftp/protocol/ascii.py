"""TYPE A line-ending conversion, correct across chunk boundaries.

On the wire an ASCII file's lines end in CRLF; on disk they end in LF. Both
converters keep one byte of state, so a CR and LF that arrive in different
reads are still seen as one line ending.
"""

from __future__ import annotations

__all__ = ["ToDisk", "ToNetwork"]


class ToNetwork:
    """Convert a file's LF line endings to CRLF for RETR in ASCII mode.

    An LF already preceded by CR is left alone, so files with CRLF endings are
    not doubled into CR CR LF.
    """

    __slots__ = ("_last_was_cr",)

    def __init__(self) -> None:
        self._last_was_cr = False

    def convert(self, chunk: bytes) -> bytes:
        """Return *chunk* with every bare LF turned into CRLF."""
        if not chunk:
            return chunk
        converted = chunk.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if self._last_was_cr and chunk[0:1] == b"\n":
            converted = converted[1:]  # the CR went out with the last chunk
        self._last_was_cr = chunk[-1:] == b"\r"
        return converted


class ToDisk:
    """Convert CRLF line endings from the network to LF for STOR in ASCII mode.

    A lone CR is data and is kept. A CR at the end of a chunk is held back
    until the next chunk (or :meth:`flush`) says whether an LF follows it.
    """

    __slots__ = ("_pending_cr",)

    def __init__(self) -> None:
        self._pending_cr = False

    def convert(self, chunk: bytes | bytearray) -> bytes:
        """Return *chunk* with CRLF turned into LF (maybe holding back a CR)."""
        chunk = bytes(chunk)
        if self._pending_cr:
            chunk = b"\r" + chunk
            self._pending_cr = False
        if chunk.endswith(b"\r"):
            self._pending_cr = True
            chunk = chunk[:-1]
        return chunk.replace(b"\r\n", b"\n")

    def flush(self) -> bytes:
        """Return the CR held back at the end of the stream, if any."""
        if self._pending_cr:
            self._pending_cr = False
            return b"\r"
        return b""
