"""Atomic, resumable uploads: the hidden partial files and what happens to them.

With ``atomic_uploads`` on, an upload is written to a *partial file* next to
its target and renamed onto the target only once the transfer ended with
``226`` (see ``docs/uploads.md``). Every partial name starts with
:data:`PARTIAL_PREFIX`; the session hides such names from listings and
answers any command naming one as if it did not exist, so users can neither
see nor make one, and no user file can collide with them.

Each upload in progress writes its own *active* partial
(``.trioftp-partial.<key>.<token>``, the token random and the file created
with ``O_EXCL``), so concurrent uploads to one name never share a file. An
upload that breaks renames its active partial to the user's *resumable*
partial for that target (``.trioftp-partial.<key>``, the key a hash of the
user name and the target's name), which ``SIZE`` reports and which a later
``REST n`` + ``STOR`` or ``APPE`` by the same user claims (by renaming it to
an active name: of two sessions claiming one partial, one wins).

Every method of :class:`AtomicUpload` blocks: call it in the session's runner.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
from collections.abc import Iterable
from typing import IO

from ..filesystems import AbstractedFS, FilesystemError
from .errors import Refused

__all__ = [
    "PARTIAL_PREFIX",
    "AtomicUpload",
    "is_partial_name",
    "remove_expired",
    "resumable_partial",
    "visible_names",
]

#: The start of every partial file's name.
PARTIAL_PREFIX = ".trioftp-partial."
#: What a command naming a partial file is told: the same as for a missing file.
NO_SUCH_FILE = "550 No such file or directory."
# Bytes copied per read when an upload continues an existing target.
_COPY_BLOCK = 1 << 20


def is_partial_name(path: str) -> bool:
    """Whether the last component of *path* is a partial file's name."""
    return os.path.basename(path).startswith(PARTIAL_PREFIX)


def visible_names(names: Iterable[str]) -> list[str]:
    """*names* without partial files' names (for listings)."""
    return [name for name in names if not name.startswith(PARTIAL_PREFIX)]


def resumable_partial(target: str, username: str) -> str:
    """The real path of *username*'s resumable partial file of *target*."""
    directory, name = os.path.split(target)
    key = hashlib.sha256(f"{username}\0{name}".encode("utf-8", "surrogateescape")).hexdigest()
    return os.path.join(directory, f"{PARTIAL_PREFIX}{key[:32]}")


def remove_expired(fs: AbstractedFS, directory: str, before: float) -> list[str]:
    """Remove the partial files in *directory* last written before the time *before*.

    Returns the paths removed. A partial that vanished meanwhile (claimed or
    finished by another session) is skipped.
    """
    removed = []
    for name in fs.listdir(directory):
        if not name.startswith(PARTIAL_PREFIX):
            continue
        path = os.path.join(directory, name)
        try:
            st = fs.lstat(path)
            if stat.S_ISREG(st.st_mode) and st.st_mtime < before:
                fs.remove(path)
                removed.append(path)
        except FileNotFoundError:
            continue
    return removed


class AtomicUpload:
    """One upload to *target* through a partial file (every method blocks).

    The command calls :meth:`prepare` before the ``150``,
    :meth:`open` once the data connection exists, then :meth:`commit` after
    the last byte arrived or :meth:`keep` if the transfer broke.
    """

    def __init__(self, fs: AbstractedFS, target: str, username: str) -> None:
        self.fs = fs
        #: The final file's real path.
        self.target = target
        #: The user's resumable partial of *target* (it may not exist).
        self.resumable = resumable_partial(target, username)
        #: The partial this upload writes (set by :meth:`open`).
        self.active: str | None = None
        self._resumes_partial = False

    def prepare(self, offset: int, *, append: bool, expire_before: float | None = None) -> None:
        """Check the upload can start (before the ``150``); expire stale partials.

        A REST *offset* continues the user's resumable partial if there is
        one, else the target itself; one past its end is refused (``554``).
        With *expire_before*, a fresh upload (no offset, not APPE) first
        removes the partial files of its directory last written before then.
        """
        fs = self.fs
        if expire_before is not None and not (offset or append):
            remove_expired(fs, os.path.dirname(self.target), expire_before)
        self._resumes_partial = fs.isfile(self.resumable)
        if not offset:
            return
        source = self.resumable if self._resumes_partial else self.target
        size = fs.getsize(source) if fs.isfile(source) else -1
        if offset > size:
            raise Refused(f"554 Invalid REST parameter: offset {offset} is past the end.")

    def open(self, offset: int, *, append: bool) -> IO[bytes]:
        """Open the partial the upload writes to, positioned where the data goes.

        Without *offset* or *append* a new, empty partial. With them, the
        user's resumable partial is claimed (and cut at *offset*), or, if
        there is none, the target's bytes (up to *offset*) are copied into a
        new partial, so that even a resumed or appending upload replaces the
        target in one step.
        """
        fs = self.fs
        active = self.active = f"{self.resumable}.{secrets.token_hex(8)}"
        continues = bool(offset or append)
        if continues and self._resumes_partial:
            try:
                fs.rename(self.resumable, active)
            except FileNotFoundError:
                self.active = None
                raise Refused("450 The partial upload is being resumed elsewhere.") from None
            try:
                handle = fs.open(active, "r+b")
            except BaseException:
                self._give_up(restore=True)
                raise
        else:
            handle = fs.open(active, "xb")
        try:
            if continues and self._resumes_partial:
                if append:
                    handle.seek(0, os.SEEK_END)
                else:
                    handle.truncate(offset)
                    handle.seek(offset)
            elif continues and fs.isfile(self.target):
                with fs.open(self.target, "rb") as source:
                    _copy(source, handle, offset if offset else None)
        except BaseException:
            handle.close()
            self._give_up(restore=self._resumes_partial and continues)
            raise
        return handle

    def open_new(self, *, expire_before: float | None = None) -> IO[bytes]:
        """:meth:`prepare` and :meth:`open` a fresh upload (STOU's, to its reserved name)."""
        self.prepare(0, append=False, expire_before=expire_before)
        return self.open(0, append=False)

    def _give_up(self, *, restore: bool) -> None:
        """The partial could not be opened: put a claimed one back, or remove a new one."""
        active, self.active = self.active, None
        assert active is not None
        with contextlib.suppress(OSError):
            if restore:
                self.fs.rename(active, self.resumable)
            else:
                self.fs.remove(active)

    def commit(self, file: IO[bytes]) -> None:
        """Close *file* and put the partial in the target's place (the upload is complete).

        The new file keeps the permission bits of the file it replaces. The
        user's resumable partial of the target, if any, is now outdated and
        removed.
        """
        assert self.active is not None
        fs = self.fs
        file.close()
        # Nice to have, not worth failing a complete upload over.
        with contextlib.suppress(OSError, FilesystemError):
            old = fs.stat(self.target)
            if stat.S_ISREG(old.st_mode):
                fs.chmod(self.active, stat.S_IMODE(old.st_mode))
        fs.replace(self.active, self.target)
        self.active = None
        with contextlib.suppress(FileNotFoundError):
            fs.remove(self.resumable)

    def keep(self, file: IO[bytes] | None) -> str | None:
        """The upload broke: keep what arrived as the user's resumable partial.

        Returns the resumable partial's path, or None if nothing was kept (an
        empty partial is removed, leaving an older resumable one in place).
        """
        active, self.active = self.active, None
        if active is None:
            return None
        fs = self.fs
        if file is not None:
            # What a failed flush loses is lost already; what is on disk is kept.
            with contextlib.suppress(Exception):
                file.close()
        if fs.getsize(active) == 0:
            fs.remove(active)
            return None
        fs.replace(active, self.resumable)
        return self.resumable


def _copy(source: IO[bytes], destination: IO[bytes], limit: int | None) -> None:
    """Copy *source* into *destination*: *limit* bytes, or all of it."""
    left = limit
    while left is None or left > 0:
        data = source.read(_COPY_BLOCK if left is None else min(_COPY_BLOCK, left))
        if not data:
            return
        destination.write(data)
        if left is not None:
            left -= len(data)
