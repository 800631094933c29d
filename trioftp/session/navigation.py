"""Directory and file commands that need no data connection.

PWD, CWD, CDUP, MKD, RMD, DELE, RNFR/RNTO, SIZE, MDTM, MFMT, SITE CHMOD and
the obsolete X variants. Each one checks its path (jail and permission) and
does its filesystem work in a single thread hop.
"""

from __future__ import annotations

import calendar
import inspect
import re
import stat
import time
from collections.abc import Callable

from ..protocol.listing import format_mlsx_time
from ..protocol.replies import quote_path, sanitize
from .base import SessionBase, checks_path

__all__ = ["NavigationCommands"]

_CHMOD_MODE = re.compile(r"0?[0-7]{1,3}")
_MFMT_TIME = re.compile(r"(\d{14})(?:\.\d{1,9})?")


class NavigationCommands(SessionBase):
    """Commands that look at or change files and directories."""

    def ftp_PWD(self, line: str) -> None:
        """Report the current directory (``257 "path"``, quotes doubled)."""
        self.respond(f"257 {quote_path(self.vfs.cwd)} is the current directory.")

    @checks_path
    async def ftp_CWD(self, path: str) -> None:
        """Change the working directory."""

        def work() -> str:
            self.vfs.chdir(path)
            return f"250 {quote_path(self.vfs.cwd)} is the current directory."

        await self.path_command("CWD", path, work)

    # Not @checks_path: it calls self.ftp_CWD, which a subclass may override
    # (as a plain method too); the dispatcher checks the path first.
    async def ftp_CDUP(self, path: str) -> None:
        """Go to the parent directory (staying at ``/`` when already there)."""
        await _call(self.ftp_CWD, path)

    @checks_path
    async def ftp_MKD(self, path: str) -> None:
        """Create a directory (``257 "path" directory created.``)."""

        def work() -> str:
            self.vfs.mkdir(path)
            return f"257 {quote_path(self.vfs.fs2ftp(path))} directory created."

        await self.path_command("MKD", path, work)

    @checks_path
    async def ftp_RMD(self, path: str) -> None:
        """Remove an empty directory (never the user's root)."""

        def work() -> str:
            if self.vfs.realpath(path) == self.vfs.realpath(self.vfs.root):
                return "550 Can't remove root directory."
            self.vfs.rmdir(path)
            return "250 Directory removed."

        await self.path_command("RMD", path, work)

    @checks_path
    async def ftp_DELE(self, path: str) -> None:
        """Delete a file."""

        def work() -> str:
            self.vfs.remove(path)
            return "250 File removed."

        await self.path_command("DELE", path, work)

    @checks_path
    async def ftp_RNFR(self, path: str) -> None:
        """Remember the file to rename (``350``)."""
        self._rnfr = None

        def work() -> str:
            if not self.vfs.lexists(path):
                return "550 No such file or directory."
            if self.vfs.realpath(path) == self.vfs.realpath(self.vfs.root):
                return "550 Can't rename home directory."
            self._rnfr = path
            return "350 Ready for destination name."

        await self.path_command("RNFR", path, work)

    @checks_path
    async def ftp_RNTO(self, path: str) -> None:
        """Rename the RNFR file; the permission is checked at both ends."""
        source, self._rnfr = self._rnfr, None
        if source is None:
            self.respond("503 Bad sequence of commands: use RNFR first.")
            return

        def work() -> str:
            problem = self.check_path(source, self.perm_of("RNFR"))
            if problem is not None:
                return problem
            self.vfs.rename(source, path)
            return "250 Renaming ok."

        await self.path_command("RNTO", path, work)

    @checks_path
    async def ftp_SIZE(self, path: str) -> None:
        """Report a file's size (refused in ASCII mode, where it would be wrong)."""
        if self._current_type == "a":
            self.respond("550 SIZE not allowed in ASCII mode.")
            return

        def work() -> str:
            st = self.vfs.stat(path)
            if not stat.S_ISREG(st.st_mode):
                return f"550 {self._shown(path)} is not retrievable."
            return f"213 {st.st_size}"

        await self.path_command("SIZE", path, work)

    @checks_path
    async def ftp_MDTM(self, path: str) -> None:
        """Report a file's modification time in UTC (``213 YYYYMMDDHHMMSS``)."""

        def work() -> str:
            st = self.vfs.stat(path)
            if not stat.S_ISREG(st.st_mode):
                return f"550 {self._shown(path)} is not retrievable."
            return f"213 {format_mlsx_time(st.st_mtime)}"

        await self.path_command("MDTM", path, work)

    @checks_path
    async def ftp_MFMT(self, path: str, timeval: str) -> None:
        """Set a file's modification time, given in UTC (``MFMT time path``)."""
        match = _MFMT_TIME.fullmatch(timeval)
        try:
            if match is None:
                raise ValueError(timeval)
            parsed = time.strptime(match.group(1), "%Y%m%d%H%M%S")
        except ValueError:
            self.respond("501 Invalid time format; expected YYYYMMDDHHMMSS.")
            return
        seconds = calendar.timegm(parsed)

        def work() -> str:
            self.vfs.utime(path, seconds)
            return f"213 Modify={match.group(1)}; {sanitize(self.vfs.fs2ftp(path))}."

        await self.path_command("MFMT", path, work)

    @checks_path
    async def ftp_SITE_CHMOD(self, path: str, mode: str) -> None:
        """Change a file's permission bits (``SITE CHMOD 755 path``).

        Only the nine ``rwx`` bits: setuid, setgid and sticky bits are refused,
        since the server may run as root on behalf of virtual users.
        """
        if not _CHMOD_MODE.fullmatch(mode):
            special = re.fullmatch(r"[0-7]{4}", mode) is not None
            self.respond(
                "504 SITE CHMOD: setuid, setgid and sticky bits are not allowed."
                if special
                else "501 Invalid SITE CHMOD format."
            )
            return

        def work() -> str:
            self.vfs.chmod(path, int(mode, 8))
            return "200 SITE CHMOD successful."

        await self.path_command("SITE CHMOD", path, work)

    def _shown(self, path: str) -> str:
        return f'"{sanitize(self.vfs.fs2ftp(path))}"'

    # The obsolete X variants (RFC 775) call their modern names, as in pyftpdlib,
    # so a subclass's override covers both; the dispatcher checks their paths.

    async def ftp_XPWD(self, line: str) -> None:
        """Same as PWD."""
        await _call(self.ftp_PWD, line)

    async def ftp_XCWD(self, path: str) -> None:
        """Same as CWD."""
        await _call(self.ftp_CWD, path)

    async def ftp_XCUP(self, path: str) -> None:
        """Same as CDUP."""
        await _call(self.ftp_CDUP, path)

    async def ftp_XMKD(self, path: str) -> None:
        """Same as MKD."""
        await _call(self.ftp_MKD, path)

    async def ftp_XRMD(self, path: str) -> None:
        """Same as RMD."""
        await _call(self.ftp_RMD, path)


async def _call(method: Callable[[str], object], arg: str) -> None:
    """Call a command method, plain (as overrides may be) or ``async def``."""
    result = method(arg)
    if inspect.isawaitable(result):
        await result
