"""The filesystem a session sees: a jail under the user's home, and listings.

:class:`AbstractedFS` tells apart *virtual* paths, what the client sees
(``/`` is the user's home, ``/`` is the only separator), from *real* paths on
the server. This module owns that mapping, the jail and the wrappers around
:mod:`os`; the lines of the listing generators are made in
:mod:`trioftp._fslisting`.

Every method is synchronous. The session calls what touches storage - the
jail check ``validpath``, ``chdir``, ``open``, ``mkstemp``, the :mod:`os`
wrappers, the listing generators and their iteration - in its runner
(worker threads unless the server was given another runner), so those may
block. A few calls run on the event loop, so an override of them must not
block: the constructor (at login), reading :attr:`~AbstractedFS.cwd`, and
the path translation: ``ftp2fs`` (with ``ftpnorm``) for every path
argument, ``fs2ftp`` for the paths MLST, STAT and the transfer log show.
The stock ones only compute: ``fs2ftp`` calls ``realpath`` only for a path
that is not lexically under root, which the stock ``ftp2fs`` never returns.

Paths are :class:`str` and bytes-transparent: names that are not valid UTF-8
arrive from :func:`os.listdir` with surrogate escapes and are written back to
the client as the same bytes. Unicode is never normalised, so NFC and NFD
spellings stay different names.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from typing import BinaryIO, cast

from trioftp._fslisting import ls_lines, mlsx_lines
from trioftp.exceptions import FilesystemError

if sys.platform != "win32":
    import grp
    import pwd

__all__ = ["AbstractedFS", "FilesystemError", "UnixFilesystem"]


def _normpath(path: str) -> str:
    """:func:`os.path.normpath`, also folding the leading ``//`` POSIX keeps."""
    path = os.path.normpath(path)
    return path[1:] if path.startswith("//") else path


def _relative(path: str, base: str) -> str | None:
    """Return *path* as a virtual path below *base* (both normalised), or None."""
    if path == base:
        return "/"
    prefix = base if base.endswith(os.sep) else base + os.sep
    if path.startswith(prefix):
        return "/" + path[len(prefix) :].replace(os.sep, "/")
    return None


def _oserror(cls: type[OSError], code: int, path: str) -> OSError:
    return cls(code, os.strerror(code), path)


class AbstractedFS:
    """A user's view of the filesystem, jailed under *root*.

    *root* is the user's real home directory (stored as given);
    *cmd_channel* is the session (the handler) or None. From the session
    the listings read ``encoding`` and ``unicode_errors`` (default
    ``"utf-8"``, ``"surrogateescape"``), ``use_gmt_times`` (default True),
    and ``mlsx_perm_fact`` for per-entry MLSx permissions.

    Methods raise :exc:`OSError` as the :mod:`os` functions do; a subclass
    may raise :exc:`FilesystemError` to send its own message to the client.
    An ``OSError``'s ``filename`` is a real path: reply with its
    ``strerror``, never ``str(err)``.
    """

    def __init__(self, root: str, cmd_channel: object | None) -> None:
        self._root = root
        self._cwd = "/"
        #: The session this filesystem belongs to (None in unit tests).
        self.cmd_channel = cmd_channel

    @property
    def root(self) -> str:
        """The user's real home directory."""
        return self._root

    @root.setter
    def root(self, path: str) -> None:
        self._root = path

    @property
    def cwd(self) -> str:
        """The current working directory, a virtual path (starts as ``/``)."""
        return self._cwd

    @cwd.setter
    def cwd(self, path: str) -> None:
        self._cwd = path

    # --- virtual and real paths

    def ftpnorm(self, ftppath: str) -> str:
        """Return the absolute virtual path *ftppath* names, relative to :attr:`cwd`.

        ``.`` and ``..`` are resolved lexically and never climb above ``/``;
        repeated and trailing slashes are dropped.

        >>> AbstractedFS("/home/user", None).ftpnorm("//a/../../b/")
        '/b'
        """
        if not ftppath.startswith("/"):
            ftppath = f"{self.cwd}/{ftppath}"
        parts: list[str] = []
        for part in ftppath.split("/"):
            if part == "..":
                if parts:
                    parts.pop()
            elif part not in ("", "."):
                parts.append(part)
        return "/" + "/".join(parts)

    def _root_path(self) -> str:
        """:attr:`root`, absolute and normalised (symlinks kept)."""
        return _normpath(os.path.abspath(self.root))

    def ftp2fs(self, ftppath: str) -> str:
        """Return the real path of the virtual path *ftppath* (always under root).

        >>> AbstractedFS("/home/user", None).ftp2fs("../foo")
        '/home/user/foo'
        """
        virtual = self.ftpnorm(ftppath)
        root = self._root_path()
        if virtual == "/":
            return root
        return virtual if root == os.sep else root + virtual.replace("/", os.sep)

    def fs2ftp(self, fspath: str) -> str:
        """Return the virtual path of the real path *fspath* (relative: to root).

        The mapping is lexical (a path under root's resolved form is accepted
        too). Anything outside root gives ``"/"``, never a server path.

        >>> AbstractedFS("/home/user", None).fs2ftp("/home/user/foo")
        '/foo'
        """
        root = self._root_path()
        path = _normpath(os.path.join(root, fspath))
        virtual = _relative(path, root)
        if virtual is None:
            real_root = self.realpath(root)
            if real_root != root:
                virtual = _relative(path, real_root)
        return "/" if virtual is None else virtual

    def validpath(self, path: str) -> bool:
        """Whether the real *path*, symlinks resolved, is root or lies inside it."""
        root = self.realpath(self.root)
        real = self.realpath(path)
        prefix = root if root.endswith(os.sep) else root + os.sep
        return real == root or real.startswith(prefix)

    # --- files

    def open(self, filename: str, mode: str) -> BinaryIO:
        """Open *filename* in the binary *mode* (``ValueError`` for a text mode)."""
        if "b" not in mode:
            raise ValueError(f"binary mode required, not {mode!r}")
        return cast(BinaryIO, open(filename, mode))

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
        fd, name = tempfile.mkstemp(suffix, prefix, dir)
        name = os.path.abspath(name)
        try:
            file = open(name, mode, opener=lambda _path, _flags: fd)  # noqa: SIM115
        except BaseException:
            os.close(fd)
            os.remove(name)
            raise
        return cast(BinaryIO, file)

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

    # --- wrappers around os

    def chdir(self, path: str) -> None:
        """Make the real directory *path* the current one (sets :attr:`cwd`).

        The process's working directory is left alone. Raises
        :exc:`FileNotFoundError`, :exc:`NotADirectoryError`, or
        :exc:`PermissionError` when it cannot be entered or resolves outside
        root. A subclass overriding it must set :attr:`cwd`.
        """
        st = os.stat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise _oserror(NotADirectoryError, errno.ENOTDIR, path)
        effective = os.access in os.supports_effective_ids
        if not os.access(path, os.X_OK, effective_ids=effective):
            raise _oserror(PermissionError, errno.EACCES, path)
        if not self.validpath(path):
            raise _oserror(PermissionError, errno.EACCES, path)
        self.cwd = self.fs2ftp(path)

    def mkdir(self, path: str) -> None:
        """Create the directory *path*."""
        os.mkdir(path)

    def listdir(self, path: str) -> Iterable[str]:
        """Return the names in directory *path* (a list; subclasses may yield)."""
        return os.listdir(path)

    def rmdir(self, path: str) -> None:
        """Remove the empty directory *path*."""
        os.rmdir(path)

    def remove(self, path: str) -> None:
        """Remove the file *path*."""
        os.remove(path)

    def rename(self, src: str, dst: str) -> None:
        """Rename *src* to *dst* (replacing a file *dst*, as :func:`os.rename`)."""
        os.rename(src, dst)

    def chmod(self, path: str, mode: int) -> None:
        """Change the mode bits of *path*."""
        os.chmod(path, mode)

    def stat(self, path: str) -> os.stat_result:
        """Return the status of *path*, following symlinks."""
        return os.stat(path)

    def lstat(self, path: str) -> os.stat_result:
        """Return the status of *path* itself, not following a symlink."""
        return os.lstat(path)

    def utime(self, path: str, timeval: float) -> None:
        """Set the access and modification times of *path* to *timeval* (epoch)."""
        os.utime(path, (timeval, timeval))

    def readlink(self, path: str) -> str:
        """Return the raw text of the symlink *path* (may name a server path)."""
        return os.readlink(path)

    # --- wrappers around os.path

    def isfile(self, path: str) -> bool:
        """Whether *path* is a regular file (following symlinks)."""
        return os.path.isfile(path)

    def islink(self, path: str) -> bool:
        """Whether *path* is a symlink."""
        return os.path.islink(path)

    def isdir(self, path: str) -> bool:
        """Whether *path* is a directory (following symlinks)."""
        return os.path.isdir(path)

    def getsize(self, path: str) -> int:
        """Return the size of *path* in bytes."""
        return os.path.getsize(path)

    def getmtime(self, path: str) -> float:
        """Return the modification time of *path* (seconds since the epoch)."""
        return os.path.getmtime(path)

    def realpath(self, path: str) -> str:
        """Return *path* absolute, with every symlink and ``..`` resolved."""
        return os.path.realpath(path)

    def lexists(self, path: str) -> bool:
        """Whether *path* exists, counting a dangling symlink."""
        return os.path.lexists(path)

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

    # --- listings

    def format_list(
        self, basedir: str, listing: Iterable[str], ignore_err: bool = True
    ) -> Iterator[bytes]:
        """Yield an ``ls -l`` line (bytes, CRLF) for each name of *listing*.

        *basedir* is the real directory holding the names. Entries are
        ``lstat``-ed; a symlink whose target exists inside the jail shows
        ``name -> /virtual/target``, any other symlink shows no target.
        With *ignore_err* False an ``OSError`` propagates, otherwise the
        entry is skipped.
        """
        return ls_lines(self, basedir, listing, ignore_err)

    def listing_now(self) -> float:
        """The time ``ls -l`` lines are written against (a file modified more
        than six months before it shows its year instead of its time)."""
        return time.time()

    def format_mlsx(
        self,
        basedir: str,
        listing: Iterable[str],
        perms: str,
        facts: Iterable[str],
        ignore_err: bool = True,
    ) -> Iterator[bytes]:
        """Yield an MLSD line (bytes, CRLF) for each name of *listing*.

        Only the *facts* named are shown, in the order of
        :data:`~trioftp.protocol.listing.ALL_FACTS`: ``type`` (``file``,
        ``dir``, ``cdir`` for ``.``, ``pdir`` for ``..``, ``OS.unix=slink``),
        ``size``, ``modify`` (UTC), ``perm``, ``unique``, ``unix.mode`` (four
        octal digits, ``0644``), ``unix.uid``, ``unix.gid``. A symlink is
        followed only to a target inside the jail; otherwise its own facts
        are shown with type ``OS.unix=slink``.

        ``perm`` comes from the session's ``mlsx_perm_fact(perms)`` when it
        has one (so that per-directory permissions show), otherwise from the
        letters *perms*. *ignore_err* is as for :meth:`format_list`.
        """
        return mlsx_lines(self, basedir, listing, perms, facts, ignore_err)


class UnixFilesystem(AbstractedFS):
    """The real filesystem with no jail: paths are server paths.

    The session starts in *root*; :meth:`ftp2fs` only normalises,
    :meth:`fs2ftp` returns its argument and :meth:`validpath` is always
    True. Pair it with an authorizer that switches to system users.
    """

    def __init__(self, root: str, cmd_channel: object | None) -> None:
        super().__init__(root, cmd_channel)
        self.cwd = root

    def ftp2fs(self, ftppath: str) -> str:
        """Return :meth:`ftpnorm` of *ftppath*: virtual and real paths agree."""
        return self.ftpnorm(ftppath)

    def fs2ftp(self, fspath: str) -> str:
        """Return *fspath* unchanged."""
        return fspath

    def validpath(self, path: str) -> bool:
        """Always True: there is no jail to escape."""
        return True
