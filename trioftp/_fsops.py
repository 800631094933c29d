"""The filesystem calls of :class:`~trioftp.filesystems.AbstractedFS`, under its jail.

Each wrapper around :mod:`os` and :mod:`os.path` looks its path up from
root's descriptor (see :mod:`trioftp._beneath`) when the path lies under
root, so the jail holds even while the tree changes; a path outside root
(a subclass mapping other directories in, ``UnixFilesystem``) gets the plain
:mod:`os` call.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from trioftp._beneath import Beneath

if sys.platform != "win32":
    import grp
    import pwd

__all__ = ["JailedCalls", "normpath", "oserror"]


def normpath(path: str) -> str:
    """:func:`os.path.normpath`, also folding the leading ``//`` POSIX keeps."""
    path = os.path.normpath(path)
    return path[1:] if path.startswith("//") else path


def oserror(cls: type[OSError], code: int, path: str) -> OSError:
    """An *cls* error for *path* with the system's message for *code*."""
    return cls(code, os.strerror(code), path)


class JailedCalls:
    """mkdir, listdir, rmdir, remove, rename, chmod, stat, lstat, utime,
    readlink, the ``os.path`` predicates and owner names (a mixin of
    ``AbstractedFS``, which says where root is)."""

    if TYPE_CHECKING:

        def _beneath(self, path: str) -> tuple[Beneath, str] | None: ...

    def mkdir(self, path: str) -> None:
        """Create the directory *path*."""
        if (where := self._beneath(path)) is None:
            os.mkdir(path)
            return
        with where[0].parent(where[1]) as (parent, name):
            os.mkdir(name, dir_fd=parent)

    def listdir(self, path: str) -> Iterable[str]:
        """Return the names in directory *path* (a list; subclasses may yield)."""
        if (where := self._beneath(path)) is None:
            return os.listdir(path)
        fd = where[0].open(where[1], os.O_RDONLY | os.O_DIRECTORY)
        try:
            return os.listdir(fd)
        finally:
            os.close(fd)

    def rmdir(self, path: str) -> None:
        """Remove the empty directory *path*."""
        if (where := self._beneath(path)) is None:
            os.rmdir(path)
            return
        with where[0].parent(where[1]) as (parent, name):
            os.rmdir(name, dir_fd=parent)

    def remove(self, path: str) -> None:
        """Remove the file *path*."""
        if (where := self._beneath(path)) is None:
            os.remove(path)
            return
        with where[0].parent(where[1]) as (parent, name):
            os.unlink(name, dir_fd=parent)

    def rename(self, src: str, dst: str) -> None:
        """Rename *src* to *dst* (replacing a file *dst*, as :func:`os.rename`)."""
        source, target = self._beneath(src), self._beneath(dst)
        if source is None or target is None:
            os.rename(src, dst)
            return
        with (
            source[0].parent(source[1]) as (src_dir, src_name),
            target[0].parent(target[1]) as (dst_dir, dst_name),
        ):
            os.rename(src_name, dst_name, src_dir_fd=src_dir, dst_dir_fd=dst_dir)

    def replace(self, src: str, dst: str) -> None:
        """Put the file *src* in the place of *dst*, in one step.

        An atomic upload ends with it: readers of *dst* see either the old
        file or the new one, never a part. The stock one is :meth:`rename`
        (``rename(2)`` replaces *dst* atomically) except on Windows, where
        :func:`os.replace` does. A filesystem without an atomic rename should
        still never leave *dst* half written.
        """
        if sys.platform == "win32":
            os.replace(src, dst)
        else:
            self.rename(src, dst)

    def chmod(self, path: str, mode: int) -> None:
        """Change the mode bits of *path*."""
        if (where := self._beneath(path)) is None:
            os.chmod(path, mode)
            return
        where[0].on_file(where[1], lambda target: os.chmod(target, mode))

    def stat(self, path: str) -> os.stat_result:
        """Return the status of *path*, following symlinks."""
        if (where := self._beneath(path)) is None:
            return os.stat(path)
        return where[0].stat(where[1])

    def lstat(self, path: str) -> os.stat_result:
        """Return the status of *path* itself, not following a symlink."""
        if (where := self._beneath(path)) is None:
            return os.lstat(path)
        with where[0].parent(where[1]) as (parent, name):
            if not name:
                return os.stat(parent)
            return os.stat(name, dir_fd=parent, follow_symlinks=False)

    def utime(self, path: str, timeval: float) -> None:
        """Set the access and modification times of *path* to *timeval* (epoch)."""
        if (where := self._beneath(path)) is None:
            os.utime(path, (timeval, timeval))
            return
        where[0].on_file(where[1], lambda target: os.utime(target, (timeval, timeval)))

    def readlink(self, path: str) -> str:
        """Return the raw text of the symlink *path* (may name a server path)."""
        if (where := self._beneath(path)) is None:
            return os.readlink(path)
        with where[0].parent(where[1]) as (parent, name):
            return os.readlink(name, dir_fd=parent)

    # --- wrappers around os.path, on top of stat and lstat

    def isfile(self, path: str) -> bool:
        """Whether *path* is a regular file (following symlinks)."""
        try:
            return stat.S_ISREG(self.stat(path).st_mode)
        except (OSError, ValueError):
            return False

    def islink(self, path: str) -> bool:
        """Whether *path* is a symlink."""
        try:
            return stat.S_ISLNK(self.lstat(path).st_mode)
        except (OSError, ValueError):
            return False

    def isdir(self, path: str) -> bool:
        """Whether *path* is a directory (following symlinks)."""
        try:
            return stat.S_ISDIR(self.stat(path).st_mode)
        except (OSError, ValueError):
            return False

    def getsize(self, path: str) -> int:
        """Return the size of *path* in bytes."""
        return self.stat(path).st_size

    def getmtime(self, path: str) -> float:
        """Return the modification time of *path* (seconds since the epoch)."""
        return self.stat(path).st_mtime

    def realpath(self, path: str) -> str:
        """Return *path* absolute, with every symlink and ``..`` resolved."""
        return os.path.realpath(path)

    def lexists(self, path: str) -> bool:
        """Whether *path* exists, counting a dangling symlink."""
        try:
            self.lstat(path)
        except (OSError, ValueError):
            return False
        return True

    def get_user_by_uid(self, uid: int) -> str:
        """Return the name of user *uid*, or the number as a string."""
        if sys.platform == "win32":
            return "owner"
        try:
            return pwd.getpwuid(uid).pw_name
        except (KeyError, OverflowError):
            return str(uid)

    def get_group_by_gid(self, gid: int) -> str:
        """Return the name of group *gid*, or the number as a string."""
        if sys.platform == "win32":
            return "group"
        try:
            return grp.getgrgid(gid).gr_name
        except (KeyError, OverflowError):
            return str(gid)
