"""Directory listing lines: ``ls -l`` style for LIST/STAT, facts for MLSD/MLST.

Everything here is a pure function of already-collected file facts, so the
formats can be tested without touching a filesystem.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterable, Mapping

__all__ = [
    "ALL_FACTS",
    "DEFAULT_FACTS",
    "STAT_FACTS",
    "format_ls_line",
    "format_ls_time",
    "format_mlsx_line",
    "format_mlsx_time",
    "mlsx_perm",
    "mlsx_type",
    "unique_fact",
]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")  # fmt: skip

SIX_MONTHS = 180 * 24 * 60 * 60

#: Every MLSx fact trioftp can report, in the order FEAT lists them.
ALL_FACTS = ("type", "size", "modify", "perm", "unique",
             "unix.mode", "unix.uid", "unix.gid")  # fmt: skip

#: The facts reported until a client chooses others with ``OPTS MLST``.
DEFAULT_FACTS = ("type", "size", "modify", "perm", "unique")


def format_ls_time(mtime: float, now: float, *, use_gmt: bool = True) -> str:
    """Return the date column of ``ls -l``: ``Mon DD HH:MM`` or ``Mon DD  YYYY``.

    The year replaces the time for files more than six months old or dated in
    the future, as ``ls`` does. Month names are English whatever the locale.
    """
    try:
        tm = time.gmtime(mtime) if use_gmt else time.localtime(mtime)
    except (OverflowError, OSError, ValueError):
        tm = time.gmtime(0)
    month = _MONTHS[tm.tm_mon - 1]
    if now - mtime > SIX_MONTHS or mtime - now > 3600:
        return f"{month} {tm.tm_mday:02d}  {tm.tm_year:4d}"
    return f"{month} {tm.tm_mday:02d} {tm.tm_hour:02d}:{tm.tm_min:02d}"


def format_ls_line(
    name: str,
    *,
    mode: int,
    nlink: int,
    owner: str,
    group: str,
    size: int,
    mtime: float,
    now: float,
    use_gmt: bool = True,
    link_target: str | None = None,
) -> str:
    """Return one ``ls -l`` line (with CRLF) in the layout proftpd and pyftpdlib use.

    >>> format_ls_line("a.txt", mode=0o100644, nlink=1, owner="ftp", group="ftp",
    ...                size=3, mtime=0.0, now=0.0)
    '-rw-r--r--   1 ftp      ftp             3 Jan 01 00:00 a.txt\\r\\n'
    """
    date = format_ls_time(mtime, now, use_gmt=use_gmt)
    if link_target is not None:
        name = f"{name} -> {link_target}"
    return (
        f"{stat.filemode(mode)} {max(nlink, 1):3d} {owner:<8} {group:<8} "
        f"{size:8d} {date} {name}\r\n"
    )


def format_mlsx_time(timestamp: float) -> str:
    """Return a UTC ``YYYYMMDDHHMMSS`` time value (RFC 3659 section 2.3)."""
    try:
        tm = time.gmtime(timestamp)
    except (OverflowError, OSError, ValueError):
        return "19700101000000"
    if not 0 <= tm.tm_year <= 9999:  # RFC 3659 wants exactly four year digits
        return "19700101000000"
    return (
        f"{tm.tm_year:04d}{tm.tm_mon:02d}{tm.tm_mday:02d}"
        f"{tm.tm_hour:02d}{tm.tm_min:02d}{tm.tm_sec:02d}"
    )


def mlsx_perm(perms: str, *, is_dir: bool) -> str:
    """Translate trioftp permission letters into the RFC 3659 ``perm`` fact.

    Only the RFC's letters ``a c d e f l m p r w`` are produced: for a file
    ``r`` (RETR), ``w`` (STOR), ``a`` (APPE), ``d`` (DELE), ``f`` (rename);
    for a directory ``e`` (CWD), ``l`` (list), ``c`` (create files),
    ``m`` (MKD), ``p`` (purge its entries), ``d`` (RMD), ``f`` (rename).
    """
    wanted: tuple[tuple[str, str], ...]
    if is_dir:
        wanted = (("e", "e"), ("l", "l"), ("w", "c"), ("m", "m"),
                  ("d", "p"), ("d", "d"), ("f", "f"))  # fmt: skip
    else:
        wanted = (("r", "r"), ("w", "w"), ("a", "a"), ("d", "d"), ("f", "f"))
    return "".join(fact for letter, fact in wanted if letter in perms)


def unique_fact(dev: int, ino: int) -> str:
    """Return the ``unique`` fact: the same for every hard link to one file."""
    return f"{dev:x}g{ino:x}"


def mlsx_type(name: str, mode: int) -> str:
    """Return the ``type`` fact of an entry named *name* with mode bits *mode*.

    ``cdir`` for ``.``, ``pdir`` for ``..``, ``dir`` for another directory,
    ``OS.unix=slink`` for a symlink (one listed as itself), else ``file``.
    """
    if stat.S_ISDIR(mode):
        return "cdir" if name == "." else "pdir" if name == ".." else "dir"
    return "OS.unix=slink" if stat.S_ISLNK(mode) else "file"


#: How each MLSx fact but ``perm`` (which depends on the user: :func:`mlsx_perm`)
#: is worked out from an entry's name and status.
STAT_FACTS: Mapping[str, Callable[[str, os.stat_result], str]] = {
    "type": lambda name, st: mlsx_type(name, st.st_mode),
    "size": lambda name, st: str(st.st_size),
    "modify": lambda name, st: format_mlsx_time(st.st_mtime),
    "unique": lambda name, st: unique_fact(st.st_dev, st.st_ino),
    "unix.mode": lambda name, st: f"{stat.S_IMODE(st.st_mode):04o}",
    "unix.uid": lambda name, st: str(st.st_uid),
    "unix.gid": lambda name, st: str(st.st_gid),
}


def format_mlsx_line(name: str, facts: Mapping[str, str], enabled: Iterable[str]) -> str:
    """Return one MLSD line (with CRLF): the enabled facts in order, a space, the name.

    Facts missing from *facts* are skipped; fact names are lower case.
    """
    shown = "".join(f"{fact}={facts[fact]};" for fact in enabled if fact in facts)
    return f"{shown} {name}\r\n"
