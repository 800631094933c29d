"""The cache of file hashes: computed once, reused while the file is unchanged.

A hash is stored under the file's filesystem path with the file's
:class:`FileIdentity` (device, inode, size and modification time in
nanoseconds) when it was computed - by a HASH command that read the whole
file, or while an upload wrote it (``hash_uploads``). A lookup gives the
hash only if the file at that path still has the same identity, so a file
replaced, appended to, rewritten or renamed over is hashed again; nothing
has to tell the cache that a file changed. A rename keeps the inode and the
modification time, so a file uploaded under a temporary name and renamed
onto its final one keeps its hash.

One cache serves every session of a handler class (``hash_cache``); it is
bounded (least recently used entries go first) and thread-safe, since
runner threads fill it.
"""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["DigestCache", "FileIdentity", "identity_of"]


@attrs.frozen
class FileIdentity:
    """What says a file is still the same file with the same bytes."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: Any) -> FileIdentity:
        """The identity in a stat result (an ``os.stat_result`` or a look-alike)."""
        mtime_ns = getattr(st, "st_mtime_ns", None)
        if mtime_ns is None:
            mtime_ns = int(st.st_mtime * 1_000_000_000)
        return cls(
            int(getattr(st, "st_dev", 0)), int(getattr(st, "st_ino", 0)), int(st.st_size), mtime_ns
        )


def identity_of(file: Any, path: str, fs: Any) -> FileIdentity:
    """The identity of the open *file* (``fstat``), else of *path* on *fs* (blocking)."""
    try:
        fd = file.fileno()
    except (AttributeError, OSError, ValueError):
        return FileIdentity.of(fs.stat(path))
    return FileIdentity.of(os.fstat(fd))


class DigestCache:
    """Hex digests by path, each valid for one :class:`FileIdentity` of the file."""

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: collections.OrderedDict[str, tuple[FileIdentity, dict[str, str]]] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()

    def lookup(self, path: str, identity: FileIdentity, algorithm: str) -> str | None:
        """The digest of *path* by *algorithm*, if known for this very *identity*."""
        with self._lock:
            entry = self._entries.get(path)
            if entry is None:
                return None
            if entry[0] != identity:
                del self._entries[path]  # the file changed: the digests are stale
                return None
            self._entries.move_to_end(path)
            return entry[1].get(algorithm)

    def store(self, path: str, identity: FileIdentity, digests: Mapping[str, str]) -> None:
        """Remember *digests* (algorithm -> hex) of *path* as it is with *identity*."""
        if self.max_entries <= 0:
            return
        with self._lock:
            entry = self._entries.get(path)
            known = dict(entry[1]) if entry is not None and entry[0] == identity else {}
            known.update(digests)
            self._entries[path] = (identity, known)
            self._entries.move_to_end(path)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget(self, path: str) -> None:
        """Drop what is known of *path*."""
        with self._lock:
            self._entries.pop(path, None)

    def __len__(self) -> int:
        return len(self._entries)
