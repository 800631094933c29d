"""Path lookups that cannot leave a directory tree, even while the tree changes.

Checking a path (``realpath`` inside the home?) and then using it are two
lookups: whoever can rename entries in between (another service, another
user of the box) can swap a directory for a symlink to ``/etc`` and make the
use land outside. Here the lookup and the use are one: the path is walked
from the root's descriptor, one component at a time, each opened with
``O_NOFOLLOW`` relative to the previous one; a symlink met on the way is read
and followed by hand, only where it stays inside the root; the operation
then runs on the last directory's descriptor (``dir_fd=``) or on the file's
own descriptor.

Symlinks keep the meaning :func:`os.path.realpath` gives them (``..`` after
a symlink climbs from its target), so a tree that passes the jail check
behaves the same; only a lookup that would end outside the root fails, with
``EACCES``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator
from typing import TypeVar

__all__ = ["Beneath"]

T = TypeVar("T")

# Where a directory descriptor only serves lookups: O_PATH needs no permission
# to read the directory (Linux); elsewhere a read-only open does the job.
_PATH_ONLY: int = getattr(os, "O_PATH", 0)
_LOOKUP = _PATH_ONLY or os.O_RDONLY
_DIRECTORY = os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# As many symlinks as the kernel follows in one lookup before ELOOP.
_MAX_SYMLINKS = 40
# An O_PATH descriptor can't be fchmod-ed; its /proc link names the same inode.
_PROC_FD = "/proc/self/fd" if hasattr(os, "O_PATH") and os.path.isdir("/proc/self/fd") else None


def _error(code: int, path: str) -> OSError:
    return OSError(code, os.strerror(code), path)


class Beneath:
    """Look up paths under *root* (a real directory, trusted as given).

    *root* may itself be or contain symlinks: it is opened as given, and an
    absolute symlink target is accepted under its spelled form or its resolved
    one. Every method takes a path relative to the root, with ``/``
    separators, and raises :exc:`OSError` as the :mod:`os` functions do.
    """

    def __init__(self, root: str) -> None:
        self.root = os.path.normpath(os.path.abspath(root))
        self._real_root = os.path.realpath(self.root)

    @contextlib.contextmanager
    def parent(self, relative: str) -> Iterator[tuple[int, str]]:
        """Yield the descriptor of the directory holding *relative*'s last
        component, and that component's name (not followed)."""
        fd, name = self._walk(relative, follow_last=False)
        try:
            yield fd, name
        finally:
            os.close(fd)

    def open(self, relative: str, flags: int, mode: int = 0o666) -> int:
        """Open *relative* with *flags* and return the descriptor.

        A symlink as the last component is followed (inside the root only),
        as :func:`os.open` would.
        """
        links = 0
        while True:
            fd, name = self._walk(relative, follow_last=False)
            try:
                if not name:  # the root itself
                    return os.open(".", flags | os.O_CLOEXEC, mode, dir_fd=fd)
                try:
                    opened = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=fd)
                except OSError as exc:
                    target = self._link_target(exc, fd, name)
                    if target is None:
                        raise
                else:
                    # O_PATH | O_NOFOLLOW opens a symlink itself instead of failing.
                    if not (flags & _PATH_ONLY and stat.S_ISLNK(os.fstat(opened).st_mode)):
                        return opened
                    os.close(opened)
                    target = os.readlink(name, dir_fd=fd)
                links += 1
                if links > _MAX_SYMLINKS:
                    raise _error(errno.ELOOP, relative)
                relative = self._join_link(fd, target, relative)
            finally:
                os.close(fd)

    def on_file(self, relative: str, operation: Callable[[int | str], T]) -> T:
        """Run *operation* (``os.stat``, ``os.chmod``, ...) on what *relative*
        names, symlinks followed inside the root: it gets a descriptor of that
        very file, or on Linux the ``/proc/self/fd`` path of one."""
        fd = self.open(relative, _LOOKUP)
        try:
            return operation(f"{_PROC_FD}/{fd}" if _PROC_FD is not None else fd)
        finally:
            os.close(fd)

    def stat(self, relative: str) -> os.stat_result:
        """:func:`os.stat` of what *relative* names, symlinks followed inside the root.

        The last component is looked at from its directory's descriptor
        without following it; only a symlink there takes the longer way
        through :meth:`on_file`.
        """
        if not relative:  # the root, trusted as given (and opened as a directory)
            found = os.stat(self.root)
            if not stat.S_ISDIR(found.st_mode):
                raise _error(errno.ENOTDIR, self.root)
            return found
        fd, name = self._walk(relative, follow_last=False)
        try:
            if not name:
                return os.stat(fd)
            found = os.stat(name, dir_fd=fd, follow_symlinks=False)
        finally:
            os.close(fd)
        if not stat.S_ISLNK(found.st_mode):
            return found
        return self.on_file(relative, os.stat)

    def follows_no_links(self, relative: str) -> bool:
        """Whether *relative* resolves as it reads: no ``..`` and no symlink
        among its components (one ``lstat`` each, from the root as given).

        Then :func:`os.path.realpath` of the root joined with *relative* is
        the root's real path joined with *relative*. A component that cannot
        be looked at ends the check with True: ``realpath`` takes it and
        everything after it as written (nothing below it can be looked at
        either).
        """
        current = self.root
        for part in relative.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                return False
            current = f"{current}/{part}" if current != "/" else f"/{part}"
            try:
                if stat.S_ISLNK(os.lstat(current).st_mode):
                    return False
            except OSError:
                return True
        return True

    # --- the walk

    def _walk(self, relative: str, *, follow_last: bool) -> tuple[int, str]:
        """The directory holding *relative*'s last component, as an open
        descriptor, and that component (``""`` for the root itself)."""
        pending = [part for part in relative.split("/") if part not in ("", ".")]
        stack = [os.open(self.root, _LOOKUP | os.O_DIRECTORY | os.O_CLOEXEC)]
        links = 0
        try:
            while pending:
                part = pending.pop(0)
                if part == "..":
                    if len(stack) == 1:  # a symlink climbing out of the root
                        raise _error(errno.EACCES, relative)
                    os.close(stack.pop())
                    continue
                if not pending and not follow_last:
                    # Hand the descriptor over: the caller closes it.
                    return stack.pop(), part
                try:
                    stack.append(os.open(part, _LOOKUP | _DIRECTORY, dir_fd=stack[-1]))
                    continue
                except OSError as exc:
                    target = self._link_target(exc, stack[-1], part)
                    if target is None:
                        raise
                links += 1
                if links > _MAX_SYMLINKS:
                    raise _error(errno.ELOOP, relative)
                if target.startswith("/"):
                    pending[:0] = self._inside(target).split("/")
                    while len(stack) > 1:
                        os.close(stack.pop())
                else:
                    pending[:0] = target.split("/")
                pending = [p for p in pending if p not in ("", ".")]
            return stack.pop(), ""
        finally:
            for fd in stack:
                os.close(fd)

    def _link_target(self, exc: OSError, dir_fd: int, name: str) -> str | None:
        """The target of *name* if *exc* came from meeting a symlink, else None."""
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            return None
        try:
            return os.readlink(name, dir_fd=dir_fd)
        except OSError:  # not a symlink after all: the original error stands
            return None

    def _join_link(self, dir_fd: int, target: str, relative: str) -> str:
        """*relative* with its last component replaced by the symlink *target*."""
        if target.startswith("/"):
            return self._inside(target)
        head = relative.rstrip("/").rpartition("/")[0]
        return f"{head}/{target}" if head else target

    def _inside(self, target: str) -> str:
        """An absolute symlink target as a path relative to the root, or EACCES."""
        target = os.path.normpath(target)
        for root in (self.root, self._real_root):
            if target == root:
                return ""
            prefix = root.rstrip("/") + "/"
            if target.startswith(prefix):
                return target[len(prefix) :]
        raise _error(errno.EACCES, target)
