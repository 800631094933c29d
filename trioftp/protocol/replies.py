"""FTP reply formatting (RFC 959 section 4.2).

A reply is a three-digit code and text. One line looks like ``250 Done.``; a
multi-line reply starts with ``250-``, ends with ``250 `` and every line in
between that could be mistaken for an end line is indented by one space.
:func:`format_reply` turns any reply text into well-formed lines, so text that
contains a client-chosen name with a CR or LF in it can never forge an extra
reply.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

__all__ = [
    "Reply",
    "format_reply",
    "middle_line",
    "multiline_reply",
    "one_line_code",
    "quote_path",
    "sanitize",
]

# Line breaks inside reply text. A CR followed by NUL is RFC 2640's encoding
# of a CR that belongs to a pathname, so it is not a break.
_BREAK = re.compile(r"\r\n|\n|\r(?!\x00)")
_LOOKS_LIKE_REPLY = re.compile(r"\d{3}[ -]")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# The codes RFC 959 defines replies in, by their text: one look-up per reply.
_CODES = {str(number): number for number in range(100, 600)}


class Reply(NamedTuple):
    """One reply: a three-digit *code* and its text, one line or several.

    A multi-line reply's *lines* are the text of its first line, of the lines
    in between and of its last line. :meth:`wire` makes the well-formed
    lines, so no text can end a reply early or forge another one. (A named
    tuple: one is made per reply, so it is kept cheap.)
    """

    code: int
    lines: tuple[str, ...]

    @classmethod
    def of(cls, code: int, text: str) -> Reply:
        """A one-line reply (``Reply.of(226, "Transfer complete.")``)."""
        return cls(code, (text,))

    @classmethod
    def parse(cls, text: str) -> Reply:
        """Read ``"CODE text"`` (maybe several lines) as :func:`format_reply` lays it out.

        Raises :class:`ValueError` if *text* does not start with a three-digit code.
        """
        code = text[:3]
        number = _CODES.get(code)
        if number is None:
            if not (code.isdigit() and code.isascii() and len(code) == 3):
                raise ValueError(f"a reply must start with a three-digit code: {text[:20]!r}")
            number = int(code)
        if text[3:4] != "-" and "\n" not in text and "\r" not in text:  # one line: most replies
            return cls(number, (text[4:],))
        lines = _BREAK.split(text)
        if lines and lines[-1] == "":
            lines.pop()
        if len(lines) == 1 and lines[0][3:4] != "-":
            return cls(number, (lines[0][4:],))
        if lines[0][3:4] == "-" and len(lines) > 1 and lines[-1].startswith(code + " "):
            return cls(number, (lines[0][4:], *lines[1:-1], lines[-1][4:]))
        return cls(number, (lines[0][4:], *lines[1:], "End."))

    @property
    def text(self) -> str:
        """The text of the reply, its lines joined by newlines."""
        return "\n".join(self.lines)

    def __str__(self) -> str:
        """The reply as :meth:`parse` reads it back (the wire form without its last CRLF)."""
        return self.wire()[:-2]

    def wire(self) -> str:
        """The reply as it is sent: well-formed lines ending in CRLF."""
        lines = self.lines
        if len(lines) == 1:
            return f"{self.code} {lines[0]}\r\n"
        return multiline_reply(str(self.code), lines[0], lines[1:-1], lines[-1])


def one_line_code(text: str) -> int | None:
    """The code of *text* if it is a one-line reply already in its wire form, else None.

    That is ``"CODE text"`` with no line break: sent as it is (plus CRLF),
    it is what :meth:`Reply.parse` then :meth:`Reply.wire` would make.
    """
    if text[3:4] != " " or "\n" in text or "\r" in text:
        return None
    return _CODES.get(text[:3])


def format_reply(text: str) -> str:
    """Return *text* (``"CODE message"``, maybe several lines) as wire lines.

    The result always ends in CRLF. Text that already follows the multi-line
    convention keeps it; any other text with line breaks in it becomes a
    proper multi-line reply with its inner lines indented.
    """
    # A lone "CODE-" line would open a multi-line reply that never ends.
    if "\n" not in text and "\r" not in text and text[3:4] != "-":
        return text + "\r\n"
    lines = _BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) == 1 and lines[0][3:4] != "-":
        return lines[0] + "\r\n"
    code = lines[0][:3]
    first = lines[0][4:]
    if lines[0][3:4] == "-" and lines[-1].startswith(code + " "):
        middle, last = lines[1:-1], lines[-1][4:]
    else:
        middle, last = lines[1:], "End."
    return multiline_reply(code, first, middle, last)


def multiline_reply(code: str, first: str, middle: Iterable[str], last: str) -> str:
    """Build a multi-line reply: ``CODE-first``, the middle lines, ``CODE last``."""
    parts = [f"{code}-{first}\r\n"]
    parts.extend(middle_line(line) for line in middle)
    parts.append(f"{code} {last}\r\n")
    return "".join(parts)


def middle_line(line: str) -> str:
    """One line inside a multi-line reply, with its CRLF; indented if it
    could be taken for a reply's last line (``213 ...``)."""
    indent = " " if _LOOKS_LIKE_REPLY.match(line) else ""
    return f"{indent}{line}\r\n"


def quote_path(path: str) -> str:
    """Quote a pathname for a ``257`` reply (RFC 959 appendix II, RFC 2640).

    Double quotes are doubled and a CR is sent as CR NUL.
    """
    return '"' + path.replace('"', '""').replace("\r", "\r\x00") + '"'


def sanitize(text: str) -> str:
    """Make client-supplied text safe for a reply or a log line.

    Control characters (CR, LF, NUL, ...) become ``?``; a tab is kept.
    """
    return _CONTROL.sub("?", text)
