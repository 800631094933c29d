"""Listing lines read from a filesystem: ``ls -l`` for LIST/STAT, facts for MLSD/MLST.

:meth:`AbstractedFS.format_list <trioftp.filesystems.AbstractedFS.format_list>`
and :meth:`~trioftp.filesystems.AbstractedFS.format_mlsx` are the generators
here. They read each entry through the filesystem's own methods (so a
subclass's ``lstat``, ``stat``, ``realpath`` or ``validpath`` is used),
follow a symlink only to a target inside the jail, and leave the line
formats to :mod:`trioftp.protocol.listing`. They block: the session
iterates them in its runner.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, cast

from .exceptions import FilesystemError
from .protocol.listing import ALL_FACTS, STAT_FACTS, format_ls_line, mlsx_perm

__all__ = ["ListedFilesystem", "ls_lines", "mlsx_lines"]


class ListedFilesystem(Protocol):
    """What listing needs of an :class:`~trioftp.filesystems.AbstractedFS`."""

    @property
    def cmd_channel(self) -> object: ...

    def lstat(self, path: str) -> os.stat_result: ...
    def stat(self, path: str) -> os.stat_result: ...
    def realpath(self, path: str) -> str: ...
    def validpath(self, path: str) -> bool: ...
    def fs2ftp(self, fspath: str) -> str: ...
    def get_user_by_uid(self, uid: int) -> str: ...
    def get_group_by_gid(self, gid: int) -> str: ...
    def listing_now(self) -> float: ...


def ls_lines(
    fs: ListedFilesystem,
    basedir: str,
    listing: Iterable[str],
    ignore_err: bool,
    lstat: Callable[[str], os.stat_result] | None = None,
) -> Iterator[bytes]:
    """:meth:`~trioftp.filesystems.AbstractedFS.format_list` of *fs*, entries
    looked at with *lstat* (default: ``fs.lstat``)."""
    lstat = lstat or fs.lstat
    encoding, errors = _codec(fs)
    use_gmt = bool(getattr(fs.cmd_channel, "use_gmt_times", True))
    owners: dict[int, str] = {}
    groups: dict[int, str] = {}
    now = fs.listing_now()
    for name in listing:
        path = _entry_path(fs, basedir, name)
        try:
            st = lstat(path)
        except (OSError, FilesystemError):
            if ignore_err:
                continue
            raise
        target = None
        if stat.S_ISLNK(st.st_mode) and _follow(fs, path) is not None:
            target = fs.fs2ftp(fs.realpath(path))
        if st.st_uid not in owners:
            owners[st.st_uid] = fs.get_user_by_uid(st.st_uid)
        if st.st_gid not in groups:
            groups[st.st_gid] = fs.get_group_by_gid(st.st_gid)
        line = format_ls_line(
            name,
            mode=st.st_mode,
            nlink=st.st_nlink,
            owner=owners[st.st_uid],
            group=groups[st.st_gid],
            size=st.st_size,
            mtime=st.st_mtime,
            now=now,
            use_gmt=use_gmt,
            link_target=target,
        )
        yield line.encode(encoding, errors)


def mlsx_lines(
    fs: ListedFilesystem,
    basedir: str,
    listing: Iterable[str],
    perms: str,
    facts: Iterable[str],
    ignore_err: bool,
    lstat: Callable[[str], os.stat_result] | None = None,
) -> Iterator[bytes]:
    """:meth:`~trioftp.filesystems.AbstractedFS.format_mlsx` of *fs*, entries
    looked at with *lstat* (default: ``fs.lstat``)."""
    lstat = lstat or fs.lstat
    encoding, errors = _codec(fs)
    wanted = {fact.lower() for fact in facts}
    enabled = [fact for fact in ALL_FACTS if fact in wanted]
    perm_fact = _perm_fact(fs, perms) if "perm" in wanted else None
    prefix = basedir if basedir.endswith("/") else basedir + "/"
    for name in listing:
        path = _entry_path(fs, basedir, name) if name == ".." else prefix + name
        try:
            st = lstat(path)
        except (OSError, FilesystemError):
            if ignore_err:
                continue
            raise
        if stat.S_ISLNK(st.st_mode):
            st = _follow(fs, path) or st
        parts = []
        for fact in enabled:  # only the facts asked for are computed
            if fact == "perm":
                assert perm_fact is not None
                value = perm_fact(path, stat.S_ISDIR(st.st_mode))
            else:
                value = STAT_FACTS[fact](name, st)
            parts.append(f"{fact}={value};")
        parts.append(f" {name}\r\n")
        yield "".join(parts).encode(encoding, errors)


def _codec(fs: ListedFilesystem) -> tuple[str, str]:
    """The session's ``encoding`` and ``unicode_errors``, with defaults."""
    encoding = getattr(fs.cmd_channel, "encoding", None)
    errors = getattr(fs.cmd_channel, "unicode_errors", None)
    return (
        encoding if isinstance(encoding, str) else "utf-8",
        errors if isinstance(errors, str) else "surrogateescape",
    )


def _entry_path(fs: ListedFilesystem, basedir: str, name: str) -> str:
    """The real path of *name* in *basedir*; ``..`` of the jail's root is root."""
    path = os.path.join(basedir, name)
    if name == ".." and not fs.validpath(path):
        return basedir
    return path


def _follow(fs: ListedFilesystem, path: str) -> os.stat_result | None:
    """The symlink *path*'s target status if it exists inside the jail."""
    try:
        return fs.stat(path) if fs.validpath(path) else None
    except (OSError, FilesystemError):
        return None


def _perm_fact(fs: ListedFilesystem, perms: str) -> Callable[[str, bool], str]:
    """A function giving the ``perm`` fact of one entry (real path, is_dir).

    The session decides (``cmd_channel.mlsx_perm_fact(perms)``): it knows
    the user and the authorizer. Without one, every entry gets *perms*.
    """
    ask = getattr(fs.cmd_channel, "mlsx_perm_fact", None)
    if callable(ask):
        return cast(Callable[[str, bool], str], ask(perms))
    facts = {True: mlsx_perm(perms, is_dir=True), False: mlsx_perm(perms, is_dir=False)}
    return lambda _path, is_dir: facts[is_dir]
