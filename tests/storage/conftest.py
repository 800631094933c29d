"""Fixtures for the storage tests: one S3 server per session, a fresh bucket per test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from trioftp.storage import FsspecFS, MemoryFS

from ..support.s3server import S3Endpoint
from ..support.servers import RunningServer


@pytest.fixture
def bucket(s3: S3Endpoint) -> str:
    """A new, empty bucket on the S3 server."""
    return s3.new_bucket()


@pytest.fixture
def s3fs_store(s3: S3Endpoint) -> Any:
    """An s3fs filesystem on the S3 server (what tests seed and check objects with)."""
    return s3.filesystem()


@pytest.fixture
def s3_fs_class(s3fs_store: Any, bucket: str) -> type[FsspecFS]:
    """``FsspecFS`` serving ``bucket/data`` with 5 MiB parts (S3's smallest)."""
    return FsspecFS.configured(s3fs_store, f"{bucket}/data", part_size=5 << 20)


@pytest.fixture
def memory_fs_class() -> type[FsspecFS]:
    """A ``MemoryFS`` with a store of its own."""
    return MemoryFS.new_store()


@pytest.fixture
async def s3_server_ftp(
    start_server: Callable[..., Awaitable[RunningServer]], s3_fs_class: type[FsspecFS]
) -> RunningServer:
    """An FTP server whose users see ``bucket/data`` on the S3 server."""
    return await start_server(abstracted_fs=s3_fs_class)


@pytest.fixture
def data_path(bucket: str) -> Callable[[str], str]:
    """The store path of a virtual path of ``s3_fs_class``."""
    return lambda virtual: f"{bucket}/data/{virtual.lstrip('/')}"
