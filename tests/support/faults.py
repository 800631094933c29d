"""A filesystem that fails on purpose: chosen calls raise chosen exceptions.

``faulty_fs({"chdir": ValueError("boom")})`` is an ``AbstractedFS`` subclass
whose ``chdir`` raises that exception; ``"file.read"`` / ``"file.write"`` /
``"file.close"`` make the file objects ``open`` returns fail instead. Every
other call is the real local filesystem's. ``full_disk_fs(free)`` is a disk
with *free* bytes left (``ENOSPC``/``EDQUOT`` once they are written);
``mode_bits_fs()`` enforces permission bits the way the kernel does for a
user who is not root, even when the tests run as root.
"""

from __future__ import annotations

import errno
import io
import os
from collections.abc import Callable, Mapping
from typing import Any

from trioftp.filesystems import AbstractedFS

__all__ = ["faulty_fs", "full_disk_fs", "mode_bits_fs"]

_FILE_CALLS = ("read", "write", "close")


def _raiser(exc: BaseException) -> Callable[..., Any]:
    def fail(*args: object, **kwargs: object) -> Any:
        raise exc

    return fail


def faulty_fs(faults: Mapping[str, BaseException]) -> type[AbstractedFS]:
    """An ``AbstractedFS`` subclass whose named calls raise the given exceptions."""
    file_faults = {
        name.removeprefix("file."): exc for name, exc in faults.items() if name.startswith("file.")
    }
    unknown = set(file_faults) - set(_FILE_CALLS)
    if unknown:
        raise ValueError(f"no such file call: {sorted(unknown)}")

    class FaultyFile(io.FileIO):
        def read(self, size: int = -1) -> bytes:
            if "read" in file_faults:
                raise file_faults["read"]
            return super().read(size)

        def write(self, data: Any) -> int:
            if "write" in file_faults:
                raise file_faults["write"]
            return super().write(data)

        def close(self) -> None:
            super().close()  # the descriptor is released either way
            if "close" in file_faults:
                raise file_faults["close"]

    def open_file(self: AbstractedFS, filename: str, mode: str) -> Any:
        if "open" in faults:
            raise faults["open"]
        if not file_faults:
            return AbstractedFS.open(self, filename, mode)
        return FaultyFile(filename, mode.replace("b", ""))

    methods: dict[str, Any] = {
        name: _raiser(exc) for name, exc in faults.items() if not name.startswith("file.")
    }
    methods["open"] = open_file
    for name in methods:
        if name != "open" and not callable(getattr(AbstractedFS, name, None)):
            raise ValueError(f"AbstractedFS has no method {name!r}")
    return type("FaultyFS", (AbstractedFS,), methods)


def full_disk_fs(free: int, error: int = errno.ENOSPC) -> type[AbstractedFS]:
    """An ``AbstractedFS`` on a disk with *free* bytes left for all its writes.

    Like a real disk filling up: the write that crosses the limit stores what
    still fits (a short write), the next one fails with *error* (``ENOSPC``,
    or ``EDQUOT`` for a quota). Files are buffered as ``open()`` makes them.
    """
    used = 0

    class FillingFile(io.FileIO):
        def write(self, data: Any) -> int:
            nonlocal used
            room = free - used
            if room <= 0:
                raise OSError(error, os.strerror(error))
            written = super().write(memoryview(data)[:room])
            used += written or 0
            return written or 0

    def open_file(self: AbstractedFS, filename: str, mode: str) -> Any:
        if mode == "rb":
            return AbstractedFS.open(self, filename, mode)
        raw = FillingFile(filename, mode.replace("b", ""))
        return io.BufferedRandom(raw) if "+" in mode else io.BufferedWriter(raw)

    return type("FullDiskFS", (AbstractedFS,), {"open": open_file})


def _require(path: str, bits: int) -> None:
    """Raise ``EACCES`` unless the owner's *bits* (of 0o7) are set on *path*."""
    if os.stat(path).st_mode >> 6 & bits != bits:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)


def _require_search(path: str, root: str) -> None:
    """The search (x) bit on every directory from *root* down to *path*'s parent."""
    parent = os.path.dirname(path)
    while parent.startswith(root) and len(parent) >= len(root):
        _require(parent, 0o1)
        if parent == root:
            break
        parent = os.path.dirname(parent)


def mode_bits_fs() -> type[AbstractedFS]:
    """An ``AbstractedFS`` that honours the owner's permission bits even for root.

    Root ignores ``chmod 000`` (``CAP_DAC_OVERRIDE``); this class checks the
    bits an ordinary owner needs - search on every directory on the way, read
    to list a directory or read a file, write to change a directory or a
    file - and raises ``EACCES`` as the kernel would for that user.
    """

    def checked(name: str, need: Callable[[str], list[tuple[str, int]]]) -> Callable[..., Any]:
        original = getattr(AbstractedFS, name)

        def method(self: AbstractedFS, path: str, *args: Any) -> Any:
            root = self.realpath(self.root)
            _require_search(path, root)
            for target, bits in need(path):
                _require(target, bits)
            return original(self, path, *args)

        return method

    def parent(path: str) -> str:
        return os.path.dirname(path)

    def open_file(self: AbstractedFS, filename: str, mode: str) -> Any:
        _require_search(filename, self.realpath(self.root))
        if mode == "rb":
            _require(filename, 0o4)
        elif os.path.exists(filename):
            _require(filename, 0o2)
        else:
            _require(os.path.dirname(filename), 0o3)
        return AbstractedFS.open(self, filename, mode)

    methods = {
        "open": open_file,
        "chdir": checked("chdir", lambda path: [(path, 0o1)]),
        "listdir": checked("listdir", lambda path: [(path, 0o5)]),
        "mkdir": checked("mkdir", lambda path: [(parent(path), 0o3)]),
        "rmdir": checked("rmdir", lambda path: [(parent(path), 0o3)]),
        "remove": checked("remove", lambda path: [(parent(path), 0o3)]),
    }
    return type("ModeBitsFS", (AbstractedFS,), methods)
