"""A filesystem that fails on purpose: chosen calls raise chosen exceptions.

``faulty_fs({"chdir": ValueError("boom")})`` is an ``AbstractedFS`` subclass
whose ``chdir`` raises that exception; ``"file.read"`` / ``"file.write"`` /
``"file.close"`` make the file objects ``open`` returns fail instead. Every
other call is the real local filesystem's.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any

from trioftp.filesystems import AbstractedFS

__all__ = ["faulty_fs"]

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
