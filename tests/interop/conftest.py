"""Fixtures for the tests that run the ``trioftp`` command."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..support.serverprocess import make_share

#: The one file of :func:`share`.
HELLO = b"Hello, FTP!\n"


@pytest.fixture
def share(tmp_path: Path) -> Path:
    """A directory to serve, holding ``hello.txt`` (:data:`HELLO`)."""
    return make_share(tmp_path, "hello.txt", HELLO)
