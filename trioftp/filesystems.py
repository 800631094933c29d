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
import time
from collections.abc import Callable, Iterable, Iterator

from trioftp._beneath import Beneath
from trioftp._fslisting import ls_lines, mlsx_lines
from trioftp._fsops import JailedCalls, normpath, oserror
from trioftp._fsuploads import FileCalls
from trioftp.exceptions import FilesystemError

__all__ = ["AbstractedFS", "FilesystemError", "UnixFilesystem"]

# Opens a directory for lookups only (no read permission needed on Linux).
_LOOKUP_ONLY: int = getattr(os, "O_PATH", os.O_RDONLY)


def _relative(path: str, base: str) -> str | None:
    """Return *path* as a virtual path below *base* (both normalised), or None."""
    if path == base:
        return "/"
    prefix = base if base.endswith(os.sep) else base + os.sep
    if path.startswith(prefix):
        return "/" + path[len(prefix) :].replace(os.sep, "/")
    return None


class AbstractedFS(FileCalls, JailedCalls):
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
        self._lookups: Beneath | None = None

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
        return normpath(os.path.abspath(self.root))

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
        path = normpath(os.path.join(root, fspath))
        virtual = _relative(path, root)
        if virtual is None:
            real_root = self.realpath(root)
            if real_root != root:
                virtual = _relative(path, real_root)
        return "/" if virtual is None else virtual

    def validpath(self, path: str) -> bool:
        """Whether the real *path*, symlinks resolved, is root or lies inside it."""
        if self._resolves_inside(path):
            return True
        root = self.realpath(self.root)
        real = self.realpath(path)
        prefix = root if root.endswith(os.sep) else root + os.sep
        return real == root or real.startswith(prefix)

    def _resolves_inside(self, path: str) -> bool:
        """Whether *path* resolves inside root, found the short way: it lies
        under root as written and no component below root is a symlink (one
        ``lstat`` each). False means "not known": :meth:`validpath` then
        resolves both paths in full. Only for the stock :meth:`realpath` and
        a root spelled without ``..`` (whose written form resolves as it does)."""
        if type(self).realpath is not AbstractedFS.realpath or os.sep != "/":
            return False
        if ".." in self.root.split("/") or (where := self._beneath(path)) is None:
            return False
        return where[0].follows_no_links(where[1])

    def _beneath(self, path: str) -> tuple[Beneath, str] | None:
        """The lookups under root and *path* relative to root, or None if
        *path* is not under root (a subclass mapping other directories in):
        then the plain :mod:`os` call is made, as it was checked by
        :meth:`validpath` already."""
        root = self._root_path()
        virtual = _relative(normpath(path), root)
        if virtual is None:
            return None
        if self._lookups is None or self._lookups.root != root:
            self._lookups = Beneath(root)
        return self._lookups, virtual[1:]

    # --- wrappers around os
    #
    # Under root each one looks its path up from root's descriptor (see
    # :mod:`trioftp._beneath`): the jail holds even while the tree changes.

    def chdir(self, path: str) -> None:
        """Make the real directory *path* the current one (sets :attr:`cwd`).

        The process's working directory is left alone. Raises
        :exc:`FileNotFoundError`, :exc:`NotADirectoryError`, or
        :exc:`PermissionError` when it cannot be entered or resolves outside
        root. A subclass overriding it must set :attr:`cwd`.
        """
        st = self.stat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise oserror(NotADirectoryError, errno.ENOTDIR, path)
        effective = os.access in os.supports_effective_ids
        if not os.access(path, os.X_OK, effective_ids=effective):
            raise oserror(PermissionError, errno.EACCES, path)
        if not self.validpath(path):
            raise oserror(PermissionError, errno.EACCES, path)
        self.cwd = self.fs2ftp(path)

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
        return self._entries(
            basedir, lambda lstat: ls_lines(self, basedir, listing, ignore_err, lstat)
        )

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
        return self._entries(
            basedir,
            lambda lstat: mlsx_lines(self, basedir, listing, perms, facts, ignore_err, lstat),
        )

    def _entries(
        self,
        basedir: str,
        lines: Callable[[Callable[[str], os.stat_result]], Iterator[bytes]],
    ) -> Iterator[bytes]:
        """*lines*, given an ``lstat`` that looks at *basedir*'s entries through
        one descriptor of it: a listing walks from root once, not per entry.
        A subclass's own ``lstat`` is always the one used."""
        where = self._beneath(basedir) if type(self).lstat is AbstractedFS.lstat else None
        if where is None:
            yield from lines(self.lstat)
            return
        directory = where[0].open(where[1], os.O_DIRECTORY | _LOOKUP_ONLY)
        prefix = normpath(basedir).rstrip(os.sep) + os.sep

        def lstat(path: str) -> os.stat_result:
            name = path[len(prefix) :] if path.startswith(prefix) else ""
            if not name or os.sep in name or name in (".", ".."):
                return self.lstat(path)
            return os.stat(name, dir_fd=directory, follow_symlinks=False)

        try:
            yield from lines(lstat)
        finally:
            os.close(directory)


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

    def _beneath(self, path: str) -> tuple[Beneath, str] | None:
        """None: paths are server paths, used as they are."""
        return None
