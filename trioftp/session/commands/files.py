"""File transfers: RETR, STOR, APPE, STOU, REST and ABOR."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Awaitable, Callable
from typing import IO

from ...limits import NO_QUOTA
from ...protocol.ascii import ToNetwork
from ...protocol.replies import Reply, sanitize
from ..atomic import atomically, expiry_cutoff
from ..context import CommandContext
from ..errors import Refused, run_or_reply
from ..partials import AtomicUpload
from ..paths import check_or_refuse, perm_of
from ..transfers import DataMover, Transfer
from ..uploadhashing import hashing_upload

__all__ = ["READ_AT_OPEN", "FileCommands"]

#: Largest download (bytes to send) read whole when its file is opened: that
#: much is read outside the transfer memory budget anyway (a download's
#: smallest piece), and it spares the transfer its reader and a runner call.
READ_AT_OPEN = 64 << 10


class FileCommands:
    """Downloads, uploads and the restart marker."""

    def ftp_REST(self: CommandContext, line: str) -> None:
        """Set the offset the next RETR or STOR starts at (binary mode only)."""
        if self.session_state.transfer_type == "a":
            self.respond("501 Resuming transfers not allowed in ASCII mode.")
            return
        if not line.isascii() or not line.isdigit():
            self.respond("501 Invalid parameter.")
            return
        self.session_state.restart_position = int(line)
        self.respond(f"350 Restarting at position {self.session_state.restart_position}.")

    async def ftp_RETR(self: CommandContext, file: str) -> None:
        """Send a file, from the REST offset if one was given.

        A small file (at most :data:`READ_AT_OPEN` bytes to send) is read
        whole, and closed, in the same runner call that opens it: its
        transfer then only sends those bytes.
        """
        offset = self.session_state.take_restart_position()
        perm, fs = perm_of(self, "RETR"), self.vfs
        ascii = self.session_state.transfer_type == "a"

        def open_for_reading() -> tuple[IO[bytes] | None, bytes | None]:
            check_or_refuse(self, file, perm)
            handle = fs.open(file, "rb")
            try:
                if offset:
                    size = fs.getsize(file)
                    if offset > size:
                        raise Refused(_past_the_end(offset, size))
                content = _small_file_content(handle, offset)
            except BaseException:
                handle.close()
                raise
            if content is None:
                return handle, None
            handle.close()
            return None, ToNetwork().convert(content) if ascii else content

        # The file is checked before the data connection (as pyftpdlib does):
        # a missing file or a bad REST is the more useful answer.
        opened = await run_or_reply(self, open_for_reading)
        if opened is None:
            return
        handle, content = opened
        if self.transfers.refuse():
            if handle is not None:
                handle.close()
            return

        async def move(mover: DataMover, opened: IO[bytes] | None) -> None:
            if content is not None:
                await mover.send_chunks(_once(content))
                return
            assert opened is not None
            await mover.send_file(opened, offset=offset, ascii=ascii)

        await self.transfers.run(Transfer("RETR", move, path=file, file=handle))

    async def ftp_STOR(self: CommandContext, file: str, mode: str = "w") -> None:
        """Receive a file (``mode="a"``: append, as APPE).

        The file is opened once the data connection exists, so a transfer that
        never starts leaves an existing file untouched.
        """
        offset = self.session_state.take_restart_position()
        command = "APPE" if "a" in mode else "STOR"
        perm, fs, quota = perm_of(self, command), self.vfs, self.quota
        appending = command == "APPE"
        atomic = AtomicUpload(fs, file, self.username) if self.atomic_uploads else None
        fresh = atomic is not None and not offset and command == "STOR"
        cutoff = expiry_cutoff(self, file, now=time.time()) if fresh else None

        def preflight() -> bool:
            check_or_refuse(self, file, perm)
            if fs.isdir(file):
                raise Refused(f'550 "{sanitize(fs.fs2ftp(file))}" is a directory.')
            if not fs.isdir(os.path.dirname(file)):
                raise Refused("550 No such directory.")
            if quota is not NO_QUOTA:
                over_quota = quota.refusal(creating=not fs.lexists(file))
                if over_quota is not None:
                    raise Refused(over_quota)
            if atomic is None and fs.upload_in_progress(file):
                raise Refused("450 File busy: another upload to it is in progress.")
            if atomic is not None:
                atomic.prepare(offset, append=appending, expire_before=cutoff)
            elif offset:
                if not fs.isfile(file):
                    raise Refused("550 No such file or directory.")
                size = fs.getsize(file)
                if offset > size:
                    raise Refused(_past_the_end(offset, size))
            return True

        # The target is checked before the data connection, as for RETR.
        if not await run_or_reply(self, preflight) or self.transfers.refuse():
            return

        def open_for_writing() -> IO[bytes]:
            # Check again: the client chose when to connect, and meanwhile
            # another session may have swapped a directory for a symlink.
            check_or_refuse(self, file, perm)
            if quota is not NO_QUOTA:
                # Counted as the change to the target (an atomic upload's too:
                # its partial file replaces the target when it completes).
                old_size = fs.getsize(file) if fs.isfile(file) else None
                return quota.open_upload(
                    open_file,
                    old_size,
                    truncate=not offset and not appending,
                    position=offset or (old_size or 0 if appending else 0),
                )
            return open_file()

        def open_file() -> IO[bytes]:
            if atomic is not None:
                return atomic.open(offset, append=appending)
            # One upload at a time per file: a second one gets 450 (FileBusy).
            if offset:
                handle = fs.open_upload(file, "r+b")
                handle.seek(offset)
                return handle
            return fs.open_upload(file, "ab" if command == "APPE" else "wb")

        move = _receive(self)
        if command == "STOR" and not offset:  # a whole new file: hashed if hash_uploads
            move = hashing_upload(self, file, move)
        transfer = Transfer(command, move, path=file, receive=True, open_file=open_for_writing)
        if atomic is not None:
            atomically(self, atomic, transfer)
        await self.transfers.run(transfer)

    async def ftp_APPE(self: CommandContext, file: str) -> None:
        """Append to a file (creating it if needed); refused after REST."""
        if self.session_state.restart_position:
            self.respond("450 Can't APPE while REST request is pending.")
            return
        await self.call_command("STOR", file, mode="a")

    async def ftp_STOU(self: CommandContext, line: str) -> None:
        """Receive a file under a new unique name (``150 FILE: name``); never overwrites."""
        if self.session_state.restart_position:
            self.respond("450 Can't STOU while REST request is pending.")
            return
        fs = self.vfs
        if line:
            directory, prefix = os.path.split(fs.ftp2fs(line))
            prefix += "."
        else:
            directory, prefix = fs.ftp2fs(fs.cwd), "ftpd."
        perm, quota = perm_of(self, "STOU"), self.quota

        # Permission first, as for RETR and STOR; the file is made only once
        # a data connection is prepared.
        def permitted() -> bool:
            check_or_refuse(self, directory, perm)
            return True

        if not await run_or_reply(self, permitted) or self.transfers.refuse():
            return

        def create() -> IO[bytes]:
            check_or_refuse(self, directory, perm)
            over_quota = quota.refusal(creating=True)
            if over_quota is not None:
                raise Refused(over_quota)
            try:
                handle = fs.mkstemp(prefix=prefix, dir=directory)
            except FileExistsError:  # every name tried was taken: worth a retry later
                raise Refused("450 No usable unique file name found.") from None
            quota.created()
            if self.atomic_uploads:  # the empty file reserves the name; a partial gets the data
                handle.close()
                return handle
            return quota.wrap(handle)

        handle = await run_or_reply(self, create)
        if handle is None:
            return
        path = str(handle.name)
        atomic = AtomicUpload(fs, path, self.username) if self.atomic_uploads else None

        def discard() -> None:
            st = fs.lstat(path)
            if stat.S_ISREG(st.st_mode) and st.st_size == 0:
                with quota.removing(fs, path):
                    fs.remove(path)

        # RFC 1123 4.1.2.9: the preliminary reply names the file, 125 or 150.
        named = f"FILE: {sanitize(os.path.basename(path))}"
        transfer = Transfer(
            "STOU",
            hashing_upload(self, path, _receive(self)),
            path=path,
            receive=True,
            file=handle,
            discard=discard,
            preliminary=Reply.of(150, named),
            already_open=Reply.of(125, named),
        )
        if atomic is not None:
            cutoff = expiry_cutoff(self, path, now=time.time())
            transfer.file = None
            transfer.open_file = lambda: quota.wrap(atomic.open_new(expire_before=cutoff))
            atomically(self, atomic, transfer)
        await self.transfers.run(transfer)

    async def ftp_ABOR(self: CommandContext, line: str) -> None:
        """Abort: with no transfer running, close a prepared data connection."""
        if self.data_connections.endpoint is not None:
            self.data_connections.close()
            self.respond("225 ABOR command successful; data channel closed.")
        else:
            self.respond("225 No transfer to abort.")


def _small_file_content(handle: IO[bytes], offset: int) -> bytes | None:
    """The bytes of *handle* from *offset* on, if it is a regular file with at
    most :data:`READ_AT_OPEN` of them; None (position unchanged) otherwise."""
    try:
        status = os.fstat(handle.fileno())
    except (OSError, ValueError, AttributeError):  # not an OS file: sent as a stream
        return None
    if not stat.S_ISREG(status.st_mode) or status.st_size - offset > READ_AT_OPEN:
        return None
    if offset:
        handle.seek(offset)
    try:
        content = handle.read(READ_AT_OPEN + 1)
    except Exception:  # met again by the transfer, and answered as its failure
        handle.seek(offset)
        return None
    if len(content) > READ_AT_OPEN:  # it grew since: sent as a stream
        handle.seek(offset)
        return None
    return content


def _once(content: bytes) -> Callable[[], Awaitable[bytes]]:
    """A ``send_chunks`` source giving *content*, then the end."""
    pending = [content]

    async def next_chunk() -> bytes:
        return pending.pop() if pending else b""

    return next_chunk


def _past_the_end(offset: int, size: int) -> str:
    """The refusal of a REST offset beyond the file's end (pyftpdlib's wording)."""
    return f"554 Invalid REST parameter: position {offset} > file size {size}."


def _receive(session: CommandContext) -> Callable[[DataMover, IO[bytes] | None], Awaitable[None]]:
    """The mover step of an upload in the session's current TYPE."""
    ascii = session.session_state.transfer_type == "a"

    async def move(mover: DataMover, opened: IO[bytes] | None) -> None:
        assert opened is not None
        await mover.receive_file(opened, ascii=ascii)

    return move
