"""Opening files under the jail of :class:`~trioftp.filesystems.AbstractedFS`.

``open`` (downloads), ``open_upload`` with its lock and
``upload_in_progress`` (uploads), ``mkstemp`` (STOU, atomic uploads) and
``close_unfinished_upload``: a mixin of ``AbstractedFS``, which says where
root is. Under root each file is looked up from root's descriptor (see
:mod:`trioftp._beneath`), so a directory swapped for a symlink after the
jail check cannot make an open land outside.
"""

from __future__ import annotations

import errno
import os
import secrets
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO, cast

from trioftp._beneath import Beneath
from trioftp._fsops import normpath, oserror
from trioftp._uploadlock import lock_upload, upload_flags, upload_locked

__all__ = ["FileCalls"]


class FileCalls:
    """open, open_upload, upload_in_progress, mkstemp, unique_names and
    close_unfinished_upload (a mixin of ``AbstractedFS``)."""

    if TYPE_CHECKING:

        def _beneath(self, path: str) -> tuple[Beneath, str] | None: ...

    def open(self, filename: str, mode: str) -> BinaryIO:
        """Open *filename* in the binary *mode* (``ValueError`` for a text mode).

        Under root the file is looked up from root's descriptor, one component
        at a time, so a directory swapped for a symlink after the jail check
        cannot make the open land outside (``EACCES`` instead).
        """
        if "b" not in mode:
            raise ValueError(f"binary mode required, not {mode!r}")
        where = self._beneath(filename)
        if where is None:
            return cast(BinaryIO, open(filename, mode))
        lookups, relative = where
        return cast(
            BinaryIO,
            open(filename, mode, opener=lambda _path, flags: lookups.open(relative, flags)),
        )

    def open_upload(self, filename: str, mode: str) -> BinaryIO:
        """Open *filename* to receive an upload: *mode* ``"wb"`` (STOR),
        ``"ab"`` (APPE) or ``"r+b"`` (STOR after REST: the caller seeks).

        The stock filesystem locks the file for the upload (see
        :mod:`trioftp._uploadlock`) before it truncates anything: while it
        is open, another upload to it raises
        :class:`~trioftp.exceptions.FileBusy` (``450``). A subclass that
        overrides :meth:`open` gets its own ``open`` called instead, unlocked.
        """
        if type(self).open is not FileCalls.open:
            return self.open(filename, mode)
        flags = upload_flags(mode)
        where = self._beneath(filename)
        if where is None:
            fd = os.open(filename, flags | os.O_CLOEXEC, 0o666)
        else:
            lookups, relative = where
            fd = lookups.open(relative, flags, 0o666)
        try:
            lock_upload(fd)
            # Not when it is empty already (a new file): on ext4, truncating
            # makes close() start writing the file back, in the closing thread.
            if mode == "wb" and os.fstat(fd).st_size:
                os.ftruncate(fd, 0)
            # The descriptor is opened already: open() neither truncates nor reopens.
            file = open(filename, mode, opener=lambda _path, _flags: fd)  # noqa: SIM115
        except BaseException:
            os.close(fd)
            raise
        return cast(BinaryIO, file)

    def upload_in_progress(self, filename: str) -> bool:
        """Whether an upload holds *filename* now (see :meth:`open_upload`).

        Asked before the ``150`` of an upload, so that a busy file is refused
        before the transfer starts; :meth:`open_upload` decides in the end.
        False for a subclass with its own :meth:`open`, and for anything that
        can't be opened for writing (the upload's own open will say why).
        """
        if type(self).open is not FileCalls.open:
            return False
        flags = os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY  # a FIFO must not block
        where = self._beneath(filename)
        try:
            if where is None:
                fd = os.open(filename, flags | os.O_CLOEXEC)
            else:
                lookups, relative = where
                fd = lookups.open(relative, flags)
        except OSError:
            return False
        try:
            return upload_locked(fd)
        finally:
            os.close(fd)

    def mkstemp(
        self,
        suffix: str = "",
        prefix: str = "",
        dir: str | None = None,
        mode: str = "wb",
    ) -> BinaryIO:
        """Create a new file with a unique name and open it in the binary *mode*.

        The file is created with ``O_EXCL`` (mode ``0600``), so no existing
        file is ever overwritten. Its absolute path is the result's ``name``.
        *dir* defaults to the system's temporary directory, outside any jail.
        """
        if "b" not in mode:
            raise ValueError(f"binary mode required, not {mode!r}")
        fd, name = self._create_unique(suffix, prefix, dir)
        try:
            file = open(name, mode, opener=lambda _path, _flags: fd)  # noqa: SIM115
        except BaseException:
            os.close(fd)
            os.remove(name)
            raise
        return cast(BinaryIO, file)

    def unique_names(self) -> Iterator[str]:
        """The random parts :meth:`mkstemp` tries in turn, until one makes a
        new name (100 of them: ``FileExistsError`` after the last)."""
        for _ in range(100):
            yield secrets.token_hex(4)

    def _create_unique(self, suffix: str, prefix: str, dir: str | None) -> tuple[int, str]:
        """Create a file with a new name (``O_EXCL``, ``0600``); its descriptor and path."""
        directory = normpath(os.path.abspath(tempfile.gettempdir() if dir is None else dir))
        where = self._beneath(directory)
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        for part in self.unique_names():
            name = f"{prefix}{part}{suffix}"
            try:
                if where is None:
                    fd = os.open(os.path.join(directory, name), flags, 0o600)
                else:
                    lookups, relative = where
                    fd = lookups.open(f"{relative}/{name}" if relative else name, flags, 0o600)
            except FileExistsError:
                continue
            return fd, os.path.join(directory, name)
        raise oserror(FileExistsError, errno.EEXIST, directory)

    def close_unfinished_upload(self, file: BinaryIO) -> bool:
        """Close *file*, an upload that stopped before its end; return whether its bytes stay.

        Called instead of ``file.close()`` when an upload ends early (ABOR,
        a broken or stalled data connection, a failed write). The stock
        filesystem keeps the bytes received under the file's name, so that
        the client can resume with REST, and returns True; a store whose
        uploads appear only once complete (:class:`trioftp.storage.FsspecFS`)
        drops them and returns False.
        """
        file.close()
        return True
