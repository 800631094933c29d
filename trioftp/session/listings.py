"""Listings: LIST, NLST and MLSD over the data connection; MLST and STAT over control.

A directory is read and stat'ed in one thread hop that also formats up to
:data:`LISTING_CHUNK` bytes of lines; a bigger directory streams on in further
hops of the same size, so thousands of entries never hold the event loop.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterable, Iterator

from ..dtp import DTPHandler
from ..filesystems import AbstractedFS
from ..protocol.replies import multiline_reply, sanitize
from .base import checks_path
from .transfer import Refused, Transfer, TransferRunner

__all__ = ["LISTING_CHUNK", "ListingCommands"]

#: Bytes of listing lines produced per thread hop.
LISTING_CHUNK = 1 << 20


def _take(lines: Iterator[bytes], limit: int = LISTING_CHUNK) -> bytes:
    """Join lines from *lines* until about *limit* bytes (``b""`` when exhausted)."""
    taken: list[bytes] = []
    size = 0
    for line in lines:
        taken.append(line)
        size += len(line)
        if size >= limit:
            break
    return b"".join(taken)


def _ls_lines(fs: AbstractedFS, path: str) -> Iterator[bytes]:
    """``ls -l`` lines of a directory's entries, or of one file (blocking)."""
    if fs.isdir(path):
        return iter(fs.format_list(path, sorted(fs.listdir(path))))
    fs.lstat(path)  # a missing path is an error, not an empty listing
    basedir, name = os.path.split(path)
    return iter(fs.format_list(basedir, [name], ignore_err=False))


class ListingCommands(TransferRunner):
    """Commands that list directories."""

    @checks_path
    async def ftp_LIST(self, path: str) -> None:
        """Send an ``ls -l`` listing of a directory, or the line of one file."""
        fs = self.vfs
        await self._send_listing("LIST", path, lambda: _ls_lines(fs, path))

    @checks_path
    async def ftp_NLST(self, path: str) -> None:
        """Send the names in a directory (or the name of one file), one per line."""
        fs = self.vfs
        encoding, errors = self.encoding, self.unicode_errors

        def lines() -> Iterator[bytes]:
            if fs.isdir(path):
                names: Iterable[str] = sorted(fs.listdir(path))
            else:
                fs.lstat(path)
                names = [os.path.basename(path)]
            return (f"{name}\r\n".encode(encoding, errors) for name in names)

        await self._send_listing("NLST", path, lines)

    @checks_path
    async def ftp_MLSD(self, path: str) -> None:
        """Send the RFC 3659 facts of every entry of a directory."""
        fs = self.vfs
        facts = list(self._current_facts)

        def lines() -> Iterator[bytes]:
            if not fs.isdir(path):
                raise Refused("501 No such directory.")
            names = [".", "..", *sorted(fs.listdir(path))]
            perms = self.authorizer.get_perms(self.username)
            return iter(fs.format_mlsx(path, names, perms, facts))

        await self._send_listing("MLSD", path, lines)

    @checks_path
    async def ftp_MLST(self, path: str) -> None:
        """Show the facts of one path on the control connection."""
        fs = self.vfs
        facts = list(self._current_facts)
        shown = fs.fs2ftp(path).replace("\r", "\r\x00")  # RFC 2640: a CR in a name

        def work() -> str:
            perms = self.authorizer.get_perms(self.username)
            basedir, name = os.path.split(path)
            line = b"".join(fs.format_mlsx(basedir, [name], perms, facts, ignore_err=False))
            fact_text = line.decode(self.encoding, self.unicode_errors).split(" ", 1)[0]
            return multiline_reply(
                "250", f"Listing {shown}", [f" {fact_text} {shown}"], "End MLST."
            )

        await self.path_command("MLST", path, work)

    async def ftp_STAT(self, path: str) -> None:
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

        def work() -> str:
            lines = [
                line.decode(self.encoding, self.unicode_errors).rstrip("\r\n")
                for line in _ls_lines(fs, path)
            ]
            return multiline_reply("213", f'Status of "{shown}":', lines, "End of status.")

        await self.path_command("STAT", path, work)

    ftp_STAT._trioftp_checks_path = True  # type: ignore[attr-defined]

    async def _send_listing(
        self, command: str, path: str, make_lines: Callable[[], Iterator[bytes]]
    ) -> None:
        if self.refuse_transfer():
            return
        perm = self.perm_of(command)

        def start() -> tuple[Iterator[bytes], bytes]:
            self._check_or_refuse(path, perm)
            lines = make_lines()
            return lines, _take(lines)

        started = await self._refusable(start)
        if started is None:
            return
        lines, first = started

        async def move(dtp: DTPHandler, _: object) -> None:
            pending = [first]

            async def next_chunk() -> bytes:
                if pending:
                    return pending.pop()
                return await self.run_blocking(_take, lines)

            await dtp.send_chunks(next_chunk)

        transfer = Transfer(command, move)
        await self.run_transfer(transfer, "150 File status okay. About to open data connection.")
