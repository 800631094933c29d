"""Per-user quotas: the bytes and files a user holds, counted once, kept up to date.

How usage is counted
--------------------

When the first session of a user with a quota logs in, :func:`scan_usage`
walks the user's home once (in the session's runner, as the user) and the
totals go into the user's :class:`QuotaUsage`, which every session of that
user then shares and keeps up to date: uploads add what they write, DELE
and an RNTO over an existing file take away what they remove. The scan is
done again only once every session of the user has ended. The trade-off:
a login costs one walk of the home while no other session of the user is
open, and changes made behind the server's back (another program, another
server process of a pre-forked server) are seen only at the next scan.

Uploads are counted as they are written (:class:`QuotaTracker.open_upload`):
an upload that would cross the quota writes the bytes that still fit, then
fails with ``EDQUOT``, which the session answers with ``552``. The partial
file is kept (and counted): the user is then exactly at the quota, and may
delete it or another file.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, Protocol, cast

__all__ = ["NO_QUOTA", "QuotaTracker", "QuotaUsage", "scan_usage"]


def scan_usage(root: str) -> tuple[int, int]:
    """The bytes and the number of regular files under *root* (blocking).

    Symbolic links are not followed; directories that cannot be read are
    skipped.
    """
    total = files = 0
    pending = [root]
    while pending:
        try:
            entries = os.scandir(pending.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
                        files += 1
                except OSError:
                    continue
    return total, files


class QuotaUsage:
    """One user's quota and running totals, shared by that user's sessions.

    Thread-safe: uploads change it from the runner's worker threads. A limit
    of ``0`` means none.
    """

    def __init__(self, max_bytes: int = 0, max_files: int = 0) -> None:
        self.max_bytes = max_bytes
        self.max_files = max_files
        #: Bytes and regular files the user holds now.
        self.bytes = 0
        self.files = 0
        self._lock = threading.Lock()

    def set_totals(self, nbytes: int, files: int) -> None:
        """Set the totals (from :func:`scan_usage`)."""
        with self._lock:
            self.bytes, self.files = nbytes, files

    def add(self, nbytes: int = 0, files: int = 0) -> None:
        """Change the totals by *nbytes* and *files* (negative: freed)."""
        with self._lock:
            self.bytes = max(0, self.bytes + nbytes)
            self.files = max(0, self.files + files)

    def grow(self, nbytes: int) -> int:
        """Add up to *nbytes* within the byte quota; return how many were granted."""
        with self._lock:
            granted = nbytes
            if self.max_bytes:
                granted = max(0, min(nbytes, self.max_bytes - self.bytes))
            self.bytes += granted
            return granted

    def refusal(self, creating: bool) -> str | None:
        """The ``552`` reply if the user is already at a limit, else None.

        The file limit only counts when the upload would create a file.
        """
        with self._lock:
            if self.max_bytes and self.bytes >= self.max_bytes:
                return f"552 Quota exceeded: {self.bytes} of {self.max_bytes} bytes used."
            if creating and self.max_files and self.files >= self.max_files:
                return f"552 Quota exceeded: {self.files} of {self.max_files} files."
            return None


class _Stats(Protocol):
    def lstat(self, path: str) -> os.stat_result: ...


class _QuotaFile:
    """An upload's file that counts each write against the user's byte quota."""

    def __init__(self, file: IO[bytes], usage: QuotaUsage, size: int, position: int) -> None:
        self._file = file
        self._usage = usage
        self._size = size
        self._position = position

    def write(self, data: bytes | bytearray | memoryview) -> int:
        length = memoryview(data).nbytes
        end = self._position + length
        growth = max(0, end - self._size)
        granted = self._usage.grow(growth)
        fits = length - (growth - granted)
        try:
            written = self._file.write(memoryview(data)[:fits] if fits < length else data)
        except BaseException:
            self._usage.add(-granted)
            raise
        self._position += fits
        self._size = max(self._size, self._position)
        if fits < length:
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


class QuotaTracker:
    """A session's view of its user's :class:`QuotaUsage` (all methods blocking).

    The session's commands call it around what changes the user's files;
    :data:`NO_QUOTA` is the tracker of a user without a quota, which counts
    nothing.
    """

    __slots__ = ("usage",)

    def __init__(self, usage: QuotaUsage | None) -> None:
        self.usage = usage

    def refusal(self, creating: bool) -> str | None:
        """The ``552`` reply if an upload must not start (see :meth:`QuotaUsage.refusal`)."""
        return None if self.usage is None else self.usage.refusal(creating)

    def open_upload(
        self,
        open_file: Callable[[], IO[bytes]],
        old_size: int | None,
        *,
        truncate: bool,
        position: int,
    ) -> IO[bytes]:
        """Open an upload's file with *open_file* and count what is written to it.

        *old_size* is the file's size before (None: it does not exist yet),
        *truncate* says whether opening empties it, *position* is where
        writing starts. A new file counts against the file quota; refused
        with :exc:`OSError` ``EDQUOT`` if the user already has too many.
        """
        usage = self.usage
        if usage is None:
            return open_file()
        if old_size is None and usage.refusal(creating=True) is not None:
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
        file = open_file()
        if old_size is None:
            usage.add(files=1)
            old_size = 0
        elif truncate:
            usage.add(-old_size)
            old_size = 0
        return cast(IO[bytes], _QuotaFile(file, usage, old_size, position))

    def created(self) -> None:
        """An empty file was created (STOU's unique file)."""
        if self.usage is not None:
            self.usage.add(files=1)

    def wrap(self, file: IO[bytes]) -> IO[bytes]:
        """Count the writes to *file*, an empty file :meth:`created` just made."""
        if self.usage is None:
            return file
        return cast(IO[bytes], _QuotaFile(file, self.usage, 0, 0))

    @contextmanager
    def removing(self, fs: _Stats, path: str) -> Iterator[None]:
        """Around the removal of *path* (DELE, a file RNTO replaces): count it as freed."""
        usage = self.usage
        if usage is None:
            yield
            return
        try:
            st = fs.lstat(path)
        except OSError:
            st = None
        yield
        if st is not None and stat.S_ISREG(st.st_mode):
            usage.add(-st.st_size, -1)

    @contextmanager
    def renaming(self, fs: _Stats, source: str, target: str) -> Iterator[None]:
        """Around a rename (RNTO): a file it replaces is counted as freed.

        Renaming a file onto another name of itself (a hard link) frees nothing.
        """
        if self.usage is None or _same_file(fs, source, target):
            yield
            return
        with self.removing(fs, target):
            yield


def _same_file(fs: _Stats, first: str, second: str) -> bool:
    try:
        a, b = fs.lstat(first), fs.lstat(second)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


#: The tracker of a user without a quota.
NO_QUOTA = QuotaTracker(None)
