"""File transfers: RETR, STOR, APPE, STOU, REST and ABOR."""

from __future__ import annotations

import inspect
import os
import stat
from typing import IO

from ..dtp import DTPHandler
from ..protocol.replies import sanitize
from .base import checks_path
from .transfer import Refused, Transfer, TransferRunner

__all__ = ["FileCommands"]


class FileCommands(TransferRunner):
    """Downloads, uploads and the restart marker."""

    def ftp_REST(self, line: str) -> None:
        """Set the offset the next RETR or STOR starts at (binary mode only)."""
        if self._current_type == "a":
            self.respond("501 Resuming transfers not allowed in ASCII mode.")
            return
        if not line.isascii() or not line.isdigit():
            self.respond("501 Invalid parameter.")
            return
        self._restart_position = int(line)
        self.respond(f"350 Restarting at position {self._restart_position}.")

    @checks_path
    async def ftp_RETR(self, file: str) -> None:
        """Send a file, from the REST offset if one was given."""
        offset, self._restart_position = self._restart_position, 0
        if self.refuse_transfer():
            return
        perm = self.perm_of("RETR")

        def open_for_reading() -> IO[bytes]:
            self._check_or_refuse(file, perm)
            handle = self.vfs.open(file, "rb")
            if offset:
                try:
                    past_end = offset > self.vfs.getsize(file)
                except BaseException:
                    handle.close()
                    raise
                if past_end:
                    handle.close()
                    raise Refused(f"554 Invalid REST parameter: offset {offset} is past the end.")
            return handle

        handle = await self._refusable(open_for_reading)
        if handle is None:
            return
        ascii = self._current_type == "a"

        async def move(dtp: DTPHandler, opened: IO[bytes] | None) -> None:
            assert opened is not None
            await dtp.send_file(opened, offset=offset, ascii=ascii)

        transfer = Transfer("RETR", move, path=file, file=handle)
        await self.run_transfer(transfer, "150 File status okay. About to open data connection.")

    @checks_path
    async def ftp_STOR(self, file: str, mode: str = "w") -> None:
        """Receive a file (``mode="a"``: append, as APPE).

        The file is opened once the data connection exists, so a transfer that
        never starts leaves an existing file untouched.
        """
        offset, self._restart_position = self._restart_position, 0
        command = "APPE" if "a" in mode else "STOR"
        if self.refuse_transfer():
            return
        perm = self.perm_of(command)
        fs = self.vfs

        def preflight() -> bool:
            self._check_or_refuse(file, perm)
            if fs.isdir(file):
                raise Refused(f'550 "{sanitize(fs.fs2ftp(file))}" is a directory.')
            if not fs.isdir(os.path.dirname(file)):
                raise Refused("550 No such directory.")
            if offset:
                size = fs.getsize(file) if fs.isfile(file) else -1
                if offset > size:
                    raise Refused(f"554 Invalid REST parameter: offset {offset} is past the end.")
            return True

        if not await self._refusable(preflight):
            return

        def open_for_writing() -> IO[bytes]:
            # Check again: the client chose when to connect, and meanwhile
            # another session may have swapped a directory for a symlink.
            self._check_or_refuse(file, perm)
            if offset:
                handle = fs.open(file, "r+b")
                handle.seek(offset)
                return handle
            return fs.open(file, "ab" if command == "APPE" else "wb")

        ascii = self._current_type == "a"

        async def move(dtp: DTPHandler, opened: IO[bytes] | None) -> None:
            assert opened is not None
            await dtp.receive_file(opened, ascii=ascii)

        transfer = Transfer(command, move, path=file, receive=True, open_file=open_for_writing)
        await self.run_transfer(transfer, "150 File status okay. About to open data connection.")

    # Not @checks_path: it calls self.ftp_STOR, which a subclass may override;
    # the dispatcher checks the path (and the "a" permission) first.
    async def ftp_APPE(self, file: str) -> None:
        """Append to a file (creating it if needed); refused after REST."""
        if self._restart_position:
            self.respond("450 Can't APPE while REST request is pending.")
            return
        result = self.ftp_STOR(file, mode="a")
        if inspect.isawaitable(result):
            await result

    async def ftp_STOU(self, line: str) -> None:
        """Receive a file under a new unique name (``150 FILE: name``); never overwrites."""
        if self._restart_position:
            self.respond("450 Can't STOU while REST request is pending.")
            return
        if self.refuse_transfer():
            return
        fs = self.vfs
        if line:
            directory, prefix = os.path.split(fs.ftp2fs(line))
            prefix += "."
        else:
            directory, prefix = fs.ftp2fs(fs.cwd), "ftpd."
        perm = self.perm_of("STOU")

        def create() -> IO[bytes]:
            self._check_or_refuse(directory, perm)
            try:
                return fs.mkstemp(prefix=prefix, dir=directory)
            except FileExistsError:  # every name tried was taken: worth a retry later
                raise Refused("450 No usable unique file name found.") from None

        handle = await self._refusable(create)
        if handle is None:
            return
        path = str(handle.name)

        def discard() -> None:
            st = fs.lstat(path)
            if stat.S_ISREG(st.st_mode) and st.st_size == 0:
                fs.remove(path)

        async def move(dtp: DTPHandler, opened: IO[bytes] | None) -> None:
            assert opened is not None
            await dtp.receive_file(opened, ascii=self._current_type == "a")

        transfer = Transfer("STOU", move, path=path, receive=True, file=handle, discard=discard)
        await self.run_transfer(transfer, f"150 FILE: {sanitize(os.path.basename(path))}")

    async def ftp_ABOR(self, line: str) -> None:
        """Abort: with no transfer running, close a prepared data connection."""
        if self.has_data_endpoint():
            await self._close_data_channels()
            self.respond("225 ABOR command successful; data channel closed.")
        else:
            self.respond("225 No transfer to abort.")
