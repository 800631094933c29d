"""Split the control connection's byte stream into command lines.

FTP commands are Telnet lines: they end in CRLF (many clients send a bare LF),
may carry Telnet IAC sequences (``IAC IP`` / ``IAC DM`` before an urgent
``ABOR``), and a ``CR NUL`` pair stands for a bare CR inside a path
(RFC 2640). :class:`LineFramer` turns received bytes into such lines, with a
hard cap on the length of one line so a client cannot make the server buffer
without bound.
"""

from __future__ import annotations

import enum

__all__ = ["DEFAULT_MAX_LINE", "LineFramer", "LineTooLong"]

DEFAULT_MAX_LINE = 4096

IAC = 0xFF
_WILL, _WONT, _DO, _DONT = 0xFB, 0xFC, 0xFD, 0xFE
_SB, _SE = 0xFA, 0xF0
_LF = 0x0A


class LineTooLong(enum.Enum):
    """Marker returned once for each line that exceeded the length cap."""

    LINE_TOO_LONG = "line too long"


class _Telnet(enum.Enum):
    DATA = 0  # ordinary bytes
    COMMAND = 1  # just after IAC
    OPTION = 2  # after IAC WILL/WONT/DO/DONT: one option byte follows
    # Inside IAC SB ... IAC SE. FTP clients never negotiate, so a line end also
    # ends it: a stray IAC SB must not swallow the commands that follow.
    SUBNEGOTIATION = 3
    SUBNEGOTIATION_IAC = 4  # an IAC inside a subnegotiation


class LineFramer:
    """Incrementally split bytes into lines, at most *max_line* bytes each.

    Feed received data with :meth:`feed`, then call :meth:`next_line` until it
    returns ``None``. A line is returned without its terminator. A line longer
    than the cap is dropped up to its terminator and reported exactly once as
    :data:`LineTooLong.LINE_TOO_LONG`, so replies stay in step with commands.
    """

    __slots__ = ("_buffer", "_discarding", "_telnet", "max_line")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self.max_line = max_line
        self._buffer = bytearray()
        self._discarding = False
        self._telnet = _Telnet.DATA

    @property
    def buffered(self) -> int:
        """How many received bytes wait for a line terminator."""
        return len(self._buffer)

    def discard_buffered(self) -> None:
        """Forget every byte received but not yet returned as a line.

        Used when the connection changes layer (``AUTH TLS``): plaintext the
        client pipelined after the command must never be executed.
        """
        self._buffer.clear()
        self._discarding = False
        self._telnet = _Telnet.DATA

    def feed(self, data: bytes | bytearray) -> None:
        """Add received bytes, removing Telnet command sequences."""
        if self._telnet is _Telnet.DATA and IAC not in data:
            self._buffer += data
        else:
            self._buffer += self._strip_telnet(data)

    def next_line(self) -> bytes | LineTooLong | None:
        """Return the next complete line, a too-long marker, or None for "need more"."""
        buffer = self._buffer
        end = buffer.find(b"\n")
        if end < 0:
            # A CR at the end may be the start of the CRLF terminator: not counted.
            if len(buffer) - buffer.endswith(b"\r") > self.max_line:
                buffer.clear()
                if not self._discarding:
                    self._discarding = True
                    return LineTooLong.LINE_TOO_LONG
            return None
        line = bytes(buffer[:end])
        del buffer[: end + 1]
        if self._discarding:
            self._discarding = False
            return self.next_line()
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > self.max_line:
            return LineTooLong.LINE_TOO_LONG
        if b"\r\x00" in line:
            line = line.replace(b"\r\x00", b"\r")
        return line

    def _strip_telnet(self, data: bytes | bytearray) -> bytes:
        out = bytearray()
        state = self._telnet
        for byte in data:
            if state is _Telnet.DATA:
                if byte == IAC:
                    state = _Telnet.COMMAND
                else:
                    out.append(byte)
            elif state is _Telnet.COMMAND:
                if byte == IAC:  # IAC IAC is a literal 0xFF byte
                    out.append(IAC)
                    state = _Telnet.DATA
                elif byte in (_WILL, _WONT, _DO, _DONT):
                    state = _Telnet.OPTION
                elif byte == _SB:
                    state = _Telnet.SUBNEGOTIATION
                elif byte >= _SE:  # IP, DM, NOP, AYT, ...: two-byte commands, dropped
                    state = _Telnet.DATA
                else:  # no Telnet command (a stray IAC): keep the byte after it
                    out.append(byte)
                    state = _Telnet.DATA
            elif state is _Telnet.OPTION:
                state = _Telnet.DATA
            elif byte == _LF:  # inside a subnegotiation: the line end ends it
                out.append(byte)
                state = _Telnet.DATA
            elif state is _Telnet.SUBNEGOTIATION:
                if byte == IAC:
                    state = _Telnet.SUBNEGOTIATION_IAC
            elif byte == _SE:  # SUBNEGOTIATION_IAC
                state = _Telnet.DATA
            else:
                state = _Telnet.SUBNEGOTIATION
        self._telnet = state
        return bytes(out)
