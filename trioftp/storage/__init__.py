"""Storage backends: filesystems that keep files somewhere other than the local disk.

* :class:`FsspecFS`: any fsspec filesystem (S3, GCS, Azure, SFTP, local),
  ``pip install 'trioftp[s3]'`` for S3;
* :class:`MemoryFS`: an in-memory store, for tests, demos and ephemeral servers;
* :func:`storage_from_url`: the ``abstracted_fs`` for a URL such as
  ``s3://bucket/prefix``, ``memory://`` or ``file:///srv/ftp`` (what
  ``trioftp --storage`` uses).

fsspec and its backends are imported only when a store is made, so the core
server never needs them.
"""

from __future__ import annotations

from .fsspecfs import OBJECT_STORE_PROTOCOLS, FsspecFS
from .memory import MemoryFS
from .url import StorageUnavailable, parse_storage_option, storage_from_url

__all__ = [
    "OBJECT_STORE_PROTOCOLS",
    "FsspecFS",
    "MemoryFS",
    "StorageUnavailable",
    "parse_storage_option",
    "storage_from_url",
]
