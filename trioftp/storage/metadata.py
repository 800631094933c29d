"""What a store says about a path: its status, its normal form, the kind of store."""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
import zlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

__all__ = ["OBJECT_STORE_PROTOCOLS", "is_object_store", "stat_of", "store_norm"]

#: fsspec protocols whose stores keep objects under keys, with no directories.
OBJECT_STORE_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"})
_DIR_MODE = stat.S_IFDIR | 0o755
_FILE_MODE = stat.S_IFREG | 0o644
# Metadata keys holding a modification time, by backend (local, S3, memory, GCS, Azure).
_MTIME_KEYS = ("mtime", "LastModified", "modified", "updated", "last_modified", "created")


def is_object_store(storage: Any) -> bool:
    """Whether the fsspec filesystem *storage* keeps objects under keys (no directories)."""
    protocols = storage.protocol
    names = {protocols} if isinstance(protocols, str) else set(protocols)
    return bool(names & OBJECT_STORE_PROTOCOLS)


def stat_of(info: Mapping[str, Any]) -> os.stat_result:
    """A status from a store's metadata entry: type, size, modification time."""
    is_dir = info.get("type") == "directory"
    size = 0 if is_dir else int(info.get("size") or 0)
    mtime = next((_timestamp(info[key]) for key in _MTIME_KEYS if info.get(key)), 0.0)
    ino = zlib.crc32(str(info.get("name", "")).encode("utf-8", "surrogateescape"))
    return os.stat_result(
        (_DIR_MODE if is_dir else _FILE_MODE, ino, 0, 1, 0, 0, size, mtime, mtime, mtime)
    )


def _timestamp(value: object) -> float:
    """Seconds since the epoch from a backend's time value (number, datetime, ISO text)."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return 0.0


def store_norm(path: str) -> str:
    """*path* with ``.``, ``..`` and repeated or trailing slashes resolved lexically.

    A relative store path (``bucket/key``) stays relative; ``..`` never
    climbs above its first component's parent, which no root can be.
    """
    if not path:
        return "/"
    normal = posixpath.normpath(path)
    if normal.startswith("//"):
        normal = normal[1:]
    return normal
