"""An in-memory filesystem, for tests, demos and ephemeral servers.

:class:`MemoryFS` is :class:`~trioftp.storage.fsspecfs.FsspecFS` over
fsspec's ``memory`` filesystem, with a store of its own for each
:meth:`~MemoryFS.new_store` (fsspec's default memory store is one per
process). It has real directories, so it behaves like a local disk that
starts empty and vanishes with the process; an upload becomes visible only
when complete, in one step, so a concurrent download never sees half of it.
"""

from __future__ import annotations

from typing import Any, BinaryIO, cast

from .errors import store_errors
from .files import RangedReader
from .fsspecfs import FsspecFS

__all__ = ["MemoryFS"]


class MemoryFS(FsspecFS):
    """A user's view of an in-memory store.

    Make one with :meth:`new_store`::

        handler.abstracted_fs = MemoryFS.new_store()
        handler.abstracted_fs.storage.pipe_file("/welcome.txt", b"hello\\n")
    """

    @classmethod
    def new_store(cls, root: str = "/", **options: Any) -> type[FsspecFS]:
        """A configured subclass serving a new, empty store (*options*: see :meth:`configured`)."""
        from fsspec.implementations.memory import MemoryFileSystem  # type: ignore[import-untyped]  # noqa: PLC0415

        storage = MemoryFileSystem(global_store=False, skip_instance_cache=True)
        if root.strip("/"):
            storage.makedirs(root, exist_ok=True)
        return cls.configured(storage, root, **options)

    def _open_download(self, path: str, size: int) -> BinaryIO:
        # fsspec's memory store hands every reader the same file object; read
        # ranges of the object as it is now instead (an upload replaces it whole).
        snapshot = MemorySnapshot(self._store.store[path])
        return cast(BinaryIO, RangedReader(snapshot, path, size, self.read_block_size))

    def _commit_staged(self, path: str, staged: Any) -> None:
        # One complete object replaces the old one: readers see either, never half.
        with store_errors():
            self._store.pipe_file(path, staged.read())


class MemorySnapshot:
    """One version of an in-memory file, read by ranges (what :class:`RangedReader` asks)."""

    def __init__(self, file: Any) -> None:
        self._file = file

    def cat_file(self, path: str, start: int, end: int) -> bytes:
        with self._file.getbuffer() as view:
            return bytes(view[start:end])
