"""Listings: LIST, NLST and MLSD over the data connection; MLST and STAT over control.

A directory is read and stat'ed in one runner call that also formats up to
``listing_chunk_size`` bytes of lines; a bigger directory streams on in
further calls of the same size, so thousands of entries never hold the
event loop.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterable, Iterator

from ...filesystems import AbstractedFS, FilesystemError
from ...protocol.replies import middle_line, multiline_reply, sanitize
from ..context import CommandContext
from ..control import ControlClosed
from ..errors import Refused, os_error_text, run_or_reply
from ..partials import visible_names
from ..paths import check_or_refuse, path_command, perm_of
from ..transfers import DataMover, Transfer

__all__ = ["ListingCommands", "take_first_lines", "take_lines"]


def take_lines(lines: Iterator[bytes], limit: int) -> bytes:
    """Join lines from *lines* until about *limit* bytes (``b""`` when exhausted)."""
    return take_first_lines(lines, limit)[0]


def take_first_lines(lines: Iterator[bytes], limit: int) -> tuple[bytes, bool]:
    """:func:`take_lines`, and whether lines may remain (False: *lines* ran out).

    A listing that fits in its first chunk then needs no second runner call
    just to learn that it has ended.
    """
    taken: list[bytes] = []
    size = 0
    for line in lines:
        taken.append(line)
        size += len(line)
        if size >= limit:
            return b"".join(taken), True
    return b"".join(taken), False


def _names(session: CommandContext, fs: AbstractedFS, path: str) -> list[str]:
    """The sorted names in directory *path* a listing shows (no partial files)."""
    names = fs.listdir(path)
    return sorted(visible_names(names) if session.atomic_uploads else names)


def _ls_lines(session: CommandContext, fs: AbstractedFS, path: str) -> Iterator[bytes]:
    """``ls -l`` lines of a directory's entries, or of one file (blocking)."""
    if fs.isdir(path):
        return iter(fs.format_list(path, _names(session, fs, path)))
    fs.lstat(path)  # a missing path is an error, not an empty listing
    basedir, name = os.path.split(path)
    return iter(fs.format_list(basedir, [name], ignore_err=False))


class ListingCommands:
    """Commands that list directories."""

    async def ftp_LIST(self: CommandContext, path: str) -> None:
        """Send an ``ls -l`` listing of a directory, or the line of one file."""
        fs = self.vfs
        await _send_listing(self, "LIST", path, lambda: _ls_lines(self, fs, path))

    async def ftp_NLST(self: CommandContext, path: str) -> None:
        """Send the names in a directory (or the name of one file), one per line."""
        fs = self.vfs
        encoding, errors = self.encoding, self.unicode_errors

        def lines() -> Iterator[bytes]:
            if fs.isdir(path):
                names: Iterable[str] = _names(self, fs, path)
            else:
                fs.lstat(path)
                names = [os.path.basename(path)]
            return (f"{name}\r\n".encode(encoding, errors) for name in names)

        await _send_listing(self, "NLST", path, lines)

    async def ftp_MLSD(self: CommandContext, path: str) -> None:
        """Send the RFC 3659 facts of every entry of a directory."""
        fs = self.vfs
        facts = list(self.session_state.facts)
        perms = self.authorizer.get_perms
        username = self.username
        dots = [".", ".."] if self.mlsd_dot_entries else []

        def lines() -> Iterator[bytes]:
            if not fs.isdir(path):
                # RFC 3659 7.2.1: 501 for a path that is not a directory, 550 for
                # one that does not exist (rclone creates a folder only after a 550).
                if fs.lexists(path):
                    raise Refused("501 Not a directory.")
                raise Refused("550 No such directory.")
            names = [*dots, *_names(self, fs, path)]
            return iter(fs.format_mlsx(path, names, perms(username), facts))

        await _send_listing(self, "MLSD", path, lines)

    async def ftp_MLST(self: CommandContext, path: str) -> None:
        """Show the facts of one path on the control connection."""
        fs = self.vfs
        facts = list(self.session_state.facts)
        shown = fs.fs2ftp(path).replace("\r", "\r\x00")  # RFC 2640: a CR in a name
        perms, username = self.authorizer.get_perms, self.username
        encoding, errors = self.encoding, self.unicode_errors

        def work() -> str:
            basedir, name = os.path.split(path)
            line = b"".join(
                fs.format_mlsx(basedir, [name], perms(username), facts, ignore_err=False)
            )
            fact_text = line.decode(encoding, errors).split(" ", 1)[0]
            return multiline_reply(
                "250", f"Listing {shown}", [f" {fact_text} {shown}"], "End MLST."
            )

        await path_command(self, "MLST", path, work)

    async def ftp_STAT(self: CommandContext, path: str) -> None:
        """Without argument: the session's status. With a path: its listing (``213``)."""
        if not path:
            self.respond(
                multiline_reply("211", "FTP server status:", self.status_lines(), "End of status.")
            )
            return
        fs = self.vfs
        shown = sanitize(fs.fs2ftp(path))
        if glob.has_magic(shown):
            self.respond("550 Globbing not supported.")
            return
        perm, limit = perm_of(self, "STAT"), self.listing_chunk_size

        def start() -> tuple[Iterator[bytes], tuple[bytes, bool]]:
            check_or_refuse(self, path, perm)
            lines = _ls_lines(self, fs, path)
            return lines, take_first_lines(lines, limit)

        started = await run_or_reply(self, start)
        if started is not None:
            lines, (chunk, more) = started
            await _stream_status(self, shown, lines, chunk, more)


async def _stream_status(
    session: CommandContext, shown: str, lines: Iterator[bytes], chunk: bytes, more: bool
) -> None:
    """Send ``213-``, the listing a chunk at a time, then ``213 End of status.``

    Like a listing on a data connection, a directory of any size costs one
    chunk of memory: each chunk is written (within the send timeout) before
    the next is made, so a client that does not read holds up only itself.
    """
    control, limit = session.control_channel, session.listing_chunk_size
    encoding, errors = session.encoding, session.unicode_errors
    control.push_raw(f'213-Status of "{shown}":\r\n')
    ending = "End of status."
    try:
        while chunk:
            text = chunk.decode(encoding, errors)
            # A name can't break the reply: no control characters, no line like "213 ...".
            lines_text = text.removesuffix("\r\n").split("\r\n")
            control.push_raw("".join(middle_line(sanitize(line)) for line in lines_text))
            await control.flush()
            chunk = await session.run_blocking(take_lines, lines, limit) if more else b""
    except ControlClosed:
        raise  # the client is gone (or reads nothing): the session ends quietly
    except (OSError, FilesystemError) as exc:
        ending = f"End of status (incomplete: {os_error_text(exc)})."
    except Exception:
        session.log_exception("STAT failed")
        ending = "End of status (incomplete: local error in processing)."
    session.respond(f"213 {ending}")


async def _send_listing(
    session: CommandContext, command: str, path: str, make_lines: Callable[[], Iterator[bytes]]
) -> None:
    if session.transfers.refuse():
        return
    perm, limit = perm_of(session, command), session.listing_chunk_size

    def start() -> tuple[Iterator[bytes], tuple[bytes, bool]]:
        check_or_refuse(session, path, perm)
        lines = make_lines()
        return lines, take_first_lines(lines, limit)

    started = await run_or_reply(session, start)
    if started is None:
        return
    lines, (first, more) = started

    async def move(mover: DataMover, _: object) -> None:
        pending = [first]

        async def next_chunk() -> bytes:
            if pending:
                return pending.pop()
            if not more:  # the first chunk held the whole listing
                return b""
            return await session.run_blocking(take_lines, lines, limit)

        await mover.send_chunks(next_chunk)

    await session.transfers.run(Transfer(command, move))
