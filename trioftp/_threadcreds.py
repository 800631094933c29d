"""The user, group and supplementary groups of the calling thread only (Linux).

POSIX says credentials belong to the whole process, so glibc's ``setresuid``,
``setresgid`` and ``setgroups`` (and :func:`os.setresuid` & co. on top of
them) change every thread of the process, one signal per thread. The Linux
kernel itself keeps credentials per thread: the raw system calls, made here
with ``syscall(2)`` through :mod:`ctypes`, change the calling thread and no
other (Samba's and glibc's own per-thread switching work the same way).

What a thread's credentials are is read back with :func:`os.getresuid`,
:func:`os.getresgid` and :func:`os.getgroups`: glibc makes those system calls
directly, so they report the calling thread's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import platform
import sys
from collections.abc import Sequence

import attrs

__all__ = [
    "SUPPORTED",
    "Credentials",
    "current_credentials",
    "restore_thread_credentials",
    "set_thread_credentials",
]

#: The system call numbers (setgroups, setresgid, setresuid) by machine, in
#: their 32-bit-id forms where a machine has both (i386, arm: the ``*32`` calls).
_NUMBERS: dict[str, tuple[int, int, int]] = {
    "x86_64": (116, 119, 117),
    "amd64": (116, 119, 117),
    # The generic system call table (asm-generic/unistd.h).
    "aarch64": (159, 149, 147),
    "arm64": (159, 149, 147),
    "riscv64": (159, 149, 147),
    "loongarch64": (159, 149, 147),
    "i386": (206, 210, 208),
    "i686": (206, 210, 208),
    "armv7l": (206, 210, 208),
    "armv8l": (206, 210, 208),
    "ppc64le": (81, 169, 164),
    "ppc64": (81, 169, 164),
    "s390x": (206, 210, 208),
}
#: -1 as a uid or gid: "leave it as it is".
_UNCHANGED = -1

_numbers = _NUMBERS.get(platform.machine().lower()) if sys.platform == "linux" else None
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if _numbers else None

#: Whether this system lets a thread switch its own credentials here.
SUPPORTED = _numbers is not None and _libc is not None


@attrs.frozen
class Credentials:
    """A thread's real, effective and saved ids and its supplementary groups."""

    uids: tuple[int, int, int]
    gids: tuple[int, int, int]
    groups: tuple[int, ...]


def current_credentials() -> Credentials:
    """The calling thread's credentials."""
    return Credentials(os.getresuid(), os.getresgid(), tuple(sorted(os.getgroups())))


def _syscall(number: int, *args: int | ctypes.Array[ctypes.c_uint]) -> None:
    assert _libc is not None
    converted = [ctypes.c_long(arg) if isinstance(arg, int) else arg for arg in args]
    if _libc.syscall(ctypes.c_long(number), *converted) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def set_thread_credentials(
    *, uid: int, gid: int, groups: Sequence[int], keep_saved: bool = False
) -> None:
    """Switch the calling thread to *uid*, *gid* and *groups*; no other thread changes.

    With *keep_saved* False the real, effective and saved ids all change: a
    thread that was root loses its privileges for good (it can never switch
    back). With *keep_saved* True only the effective ids change and the real
    and saved ones stay, so :func:`restore_thread_credentials` can switch the
    thread back. Raises :exc:`OSError`: ``EPERM`` without the privilege,
    ``ENOSYS`` where the system can't do it (see :data:`SUPPORTED`).
    """
    setgroups, setresgid, setresuid = _system_calls()
    other_uid = _UNCHANGED if keep_saved else uid
    other_gid = _UNCHANGED if keep_saved else gid
    # Groups and gid first: changing them needs the privilege the uid change drops.
    _syscall(setgroups, len(groups), _gid_array(groups))
    _syscall(setresgid, other_gid, gid, other_gid)
    _syscall(setresuid, other_uid, uid, other_uid)
    # A wrong system call number or a refused change would show here.
    if os.geteuid() != uid or os.getegid() != gid:
        raise OSError(f"the thread is uid {os.geteuid()}/gid {os.getegid()}, not {uid}/{gid}")


def restore_thread_credentials(credentials: Credentials) -> None:
    """Switch the calling thread back to *credentials* (after *keep_saved*)."""
    setgroups, setresgid, setresuid = _system_calls()
    # The uid first: it brings back the privilege the other changes need.
    _syscall(setresuid, *credentials.uids)
    _syscall(setresgid, *credentials.gids)
    _syscall(setgroups, len(credentials.groups), _gid_array(credentials.groups))
    if current_credentials() != credentials:
        raise OSError(f"the thread's credentials are {current_credentials()}, not {credentials}")


def _system_calls() -> tuple[int, int, int]:
    if _numbers is None or _libc is None:
        raise OSError(
            errno.ENOSYS,
            f"per-thread credentials need Linux on a known machine, not {platform.machine()}",
        )
    return _numbers


def _gid_array(groups: Sequence[int]) -> ctypes.Array[ctypes.c_uint]:
    return (ctypes.c_uint * max(len(groups), 1))(*groups)
