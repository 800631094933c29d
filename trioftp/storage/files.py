"""File objects over an fsspec store: ranged reads for downloads, committed uploads.

:class:`RangedReader` reads an object in ranges (``cat_file(path, start,
end)``), so a reader holds one block in memory and a seek costs nothing: for
downloads from :class:`~trioftp.storage.MemoryFS` and for the existing
content of a staged append. It has no ``fileno``, so the data channel never
tries ``sendfile`` on it.

An upload is one of two kinds, both append-only streams that make the object
visible under its name only when the upload is complete (:meth:`close`), and
never if it is abandoned (:meth:`abandon`):

* :class:`StreamedUpload` writes into the store's own buffered file (S3,
  GCS, Azure: an ``fsspec.spec.AbstractBufferedFile``). It sends a part each
  time its buffer reaches the part size, and completes the multipart upload
  on close; abandoning aborts it. Memory stays bounded by the part size.
* :class:`StagedUpload` collects the bytes in a spooled temporary file (in
  memory up to the part size, then on disk) and hands them to a *commit*
  function on close: for stores whose files are written in place (memory,
  local, SFTP), so that no reader sees half an upload.
"""

from __future__ import annotations

import abc
import contextlib
import io
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

from ..exceptions import FilesystemError

__all__ = ["RangedReader", "StagedUpload", "StreamedUpload", "Upload"]

_NOT_AT_END = "Resuming an upload before the end of the file is not supported by this storage"


class RangedReader(io.RawIOBase):
    """Read the object *path* of *store*, *size* bytes long, in ranged reads.

    A read asks the store for at least *block_size* bytes and keeps what the
    caller did not take for the next read.
    """

    def __init__(self, store: Any, path: str, size: int, block_size: int) -> None:
        super().__init__()
        self.name = path
        self._store = store
        self._size = size
        self._block_size = max(block_size, 1)
        self._position = 0
        # The last block read, and how much of it was handed out already.
        self._pending = b""
        self._taken = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        position = max(base + offset, 0)
        if position != self._position:
            self._position, self._pending, self._taken = position, b"", 0
        return position

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self._size - self._position
        if self._taken >= len(self._pending) and self._position < self._size and size > 0:
            end = min(self._position + max(size, self._block_size), self._size)
            self._pending = bytes(self._store.cat_file(self.name, start=self._position, end=end))
            self._taken = 0
        if self._taken == 0 and size >= len(self._pending):
            data = self._pending  # the whole block: no copy
        else:
            data = memoryview(self._pending)[self._taken : self._taken + size].tobytes()
        self._taken += len(data)
        self._position += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class Upload(io.RawIOBase):
    """An append-only upload: visible under its name once :meth:`close` commits it."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.name = path

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Only to where the upload is (``REST`` of an upload at the file's end)."""
        if whence != io.SEEK_SET or offset != self.tell():
            raise FilesystemError(_NOT_AT_END)
        return offset

    @abc.abstractmethod
    def abandon(self) -> None:
        """Drop the upload: nothing appears under its name (a no-op once closed)."""

    def __del__(self) -> None:
        # An upload nobody closed was not finished: never commit it on collection.
        with contextlib.suppress(Exception):
            self.abandon()


class StreamedUpload(Upload):
    """An upload written through the store's buffered file *target* (one part at a time)."""

    def __init__(self, path: str, target: Any) -> None:
        super().__init__(path)
        self._target = target

    def tell(self) -> int:
        return int(self._target.tell())

    def write(self, data: Any) -> int:
        return int(self._target.write(data))

    def flush(self) -> None:
        if not self.closed and not self._target.closed:
            self._target.flush()

    def close(self) -> None:
        if not self.closed:
            try:
                self._target.close()  # sends the last part and completes the upload
            except BaseException:
                with contextlib.suppress(Exception):  # leave no multipart upload behind
                    self._target.discard()
                    self._target.closed = True
                raise
            finally:
                super().close()

    def abandon(self) -> None:
        if not self.closed:
            try:
                self._target.discard()  # aborts a started multipart upload
                # A discarded fsspec file must not try to commit when collected.
                self._target.closed = True
            finally:
                super().close()


class StagedUpload(Upload):
    """An upload collected in a spooled temporary file, handed to *commit* on close.

    *initial* is the existing content an append starts from (read in blocks).
    Up to *memory_limit* bytes stay in memory; more go to a temporary file.
    """

    def __init__(
        self,
        path: str,
        commit: Callable[[str, Any], None],
        memory_limit: int,
        initial: io.RawIOBase | None = None,
    ) -> None:
        super().__init__(path)
        self._commit = commit
        self._spool = tempfile.SpooledTemporaryFile(max_size=memory_limit)  # noqa: SIM115
        if initial is not None:
            shutil.copyfileobj(initial, self._spool, memory_limit or 1 << 20)

    def tell(self) -> int:
        return self._spool.tell()

    def write(self, data: Any) -> int:
        return self._spool.write(data)

    def close(self) -> None:
        if not self.closed:
            try:
                self._spool.seek(0)
                self._commit(self.name, self._spool)
            finally:
                self._spool.close()
                super().close()

    def abandon(self) -> None:
        if not self.closed:
            self._spool.close()
            super().close()
