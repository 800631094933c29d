"""Directory and file commands that need no data connection.

PWD, CWD, CDUP, MKD, RMD, DELE, RNFR/RNTO, SIZE, MDTM, MFMT, SITE CHMOD and
the obsolete X variants. Each one checks its path (jail and permission) and
does its filesystem work in a single runner call.
"""

from __future__ import annotations

import calendar
import re
import stat
import time

from ...protocol.listing import format_mlsx_time
from ...protocol.replies import quote_path, sanitize
from ..context import CommandContext
from ..partials import resumable_partial
from ..paths import path_command, perm_of

__all__ = ["NavigationCommands"]

_CHMOD_MODE = re.compile(r"0?[0-7]{1,3}")
_MFMT_TIME = re.compile(r"(\d{14})(?:\.\d{1,9})?")


class NavigationCommands:
    """Commands that look at or change files and directories."""

    def ftp_PWD(self: CommandContext, line: str) -> None:
        """Report the current directory (``257 "path"``, quotes doubled)."""
        self.respond(f"257 {quote_path(self.vfs.cwd)} is the current directory.")

    async def ftp_CWD(self: CommandContext, path: str) -> None:
        """Change the working directory."""
        fs = self.vfs

        def work() -> str:
            fs.chdir(path)
            return f"250 {quote_path(fs.cwd)} is the current directory."

        await path_command(self, "CWD", path, work)

    async def ftp_CDUP(self: CommandContext, path: str) -> None:
        """Go to the parent directory (staying at ``/`` when already there)."""
        await self.call_command("CWD", path)

    async def ftp_MKD(self: CommandContext, path: str) -> None:
        """Create a directory (``257 "path" directory created.``)."""
        fs = self.vfs

        def work() -> str:
            fs.mkdir(path)
            return f"257 {quote_path(fs.fs2ftp(path))} directory created."

        await path_command(self, "MKD", path, work)

    async def ftp_RMD(self: CommandContext, path: str) -> None:
        """Remove an empty directory (never the user's root)."""
        fs = self.vfs

        def work() -> str:
            if fs.realpath(path) == fs.realpath(fs.root):
                return "550 Can't remove root directory."
            fs.rmdir(path)
            return "250 Directory removed."

        await path_command(self, "RMD", path, work)

    async def ftp_DELE(self: CommandContext, path: str) -> None:
        """Delete a file."""
        fs, quota = self.vfs, self.quota

        def work() -> str:
            with quota.removing(fs, path):
                fs.remove(path)
            return "250 File removed."

        await path_command(self, "DELE", path, work)

    async def ftp_RNFR(self: CommandContext, path: str) -> None:
        """Remember the file to rename (``350``)."""
        state, fs = self.session_state, self.vfs
        state.rename_from = None

        def work() -> str:
            if not fs.lexists(path):
                return "550 No such file or directory."
            if fs.realpath(path) == fs.realpath(fs.root):
                return "550 Can't rename home directory."
            state.rename_from = path
            return "350 Ready for destination name."

        await path_command(self, "RNFR", path, work)

    async def ftp_RNTO(self: CommandContext, path: str) -> None:
        """Rename the RNFR file; the permission is checked at both ends."""
        state, fs = self.session_state, self.vfs
        source, state.rename_from = state.rename_from, None
        if source is None:
            self.respond("503 Bad sequence of commands: use RNFR first.")
            return
        source_perm = perm_of(self, "RNFR")
        quota = self.quota

        def work() -> str:
            problem = self.check_path(source, source_perm)
            if problem is not None:
                return problem
            with quota.renaming(fs, source, path):
                fs.rename(source, path)
            return "250 Renaming ok."

        await path_command(self, "RNTO", path, work)

    async def ftp_SIZE(self: CommandContext, path: str) -> None:
        """Report a file's size (refused in ASCII mode, where it would be wrong).

        With atomic uploads, the size of the user's partial upload of the
        file if there is one: what a resuming client continues from.
        """
        if self.session_state.transfer_type == "a":
            self.respond("550 SIZE not allowed in ASCII mode.")
            return
        fs = self.vfs
        partial = resumable_partial(path, self.username) if self.atomic_uploads else None

        def work() -> str:
            st = fs.stat(partial if partial is not None and fs.isfile(partial) else path)
            if not stat.S_ISREG(st.st_mode):
                return f'550 "{sanitize(fs.fs2ftp(path))}" is not retrievable.'
            return f"213 {st.st_size}"

        await path_command(self, "SIZE", path, work)

    async def ftp_MDTM(self: CommandContext, path: str) -> None:
        """Report a file's modification time in UTC (``213 YYYYMMDDHHMMSS``)."""
        fs = self.vfs

        def work() -> str:
            try:
                st = fs.stat(path)
            except (FileNotFoundError, NotADirectoryError):
                shown = sanitize(fs.fs2ftp(path))
                return f'550 "{shown}" is not retrievable: no such file or directory.'
            if not stat.S_ISREG(st.st_mode):
                return f'550 "{sanitize(fs.fs2ftp(path))}" is not retrievable.'
            return f"213 {format_mlsx_time(st.st_mtime)}"

        await path_command(self, "MDTM", path, work)

    async def ftp_MFMT(self: CommandContext, path: str, timeval: str) -> None:
        """Set a file's modification time, given in UTC (``MFMT time path``)."""
        match = _MFMT_TIME.fullmatch(timeval)
        try:
            if match is None:
                raise ValueError(timeval)
            parsed = time.strptime(match.group(1), "%Y%m%d%H%M%S")
        except ValueError:
            self.respond("501 Invalid time format; expected YYYYMMDDHHMMSS.")
            return
        seconds, fs = calendar.timegm(parsed), self.vfs

        def work() -> str:
            fs.utime(path, seconds)
            return f"213 Modify={match.group(1)}; {sanitize(fs.fs2ftp(path))}."

        await path_command(self, "MFMT", path, work)

    async def ftp_SITE_CHMOD(self: CommandContext, path: str, mode: str) -> None:
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
        fs = self.vfs

        def work() -> str:
            fs.chmod(path, int(mode, 8))
            return "200 SITE CHMOD successful."

        await path_command(self, "SITE CHMOD", path, work)

    # The obsolete X variants (RFC 775) call their modern names, as in pyftpdlib,
    # so a subclass's override covers both; the dispatcher checks their paths.

    async def ftp_XPWD(self: CommandContext, line: str) -> None:
        """Same as PWD."""
        await self.call_command("PWD", line)

    async def ftp_XCWD(self: CommandContext, path: str) -> None:
        """Same as CWD."""
        await self.call_command("CWD", path)

    async def ftp_XCUP(self: CommandContext, path: str) -> None:
        """Same as CDUP."""
        await self.call_command("CDUP", path)

    async def ftp_XMKD(self: CommandContext, path: str) -> None:
        """Same as MKD."""
        await self.call_command("MKD", path)

    async def ftp_XRMD(self: CommandContext, path: str) -> None:
        """Same as RMD."""
        await self.call_command("RMD", path)
