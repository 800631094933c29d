"""Fixtures of the example tests: the directory an example serves."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..support.examples import README, README_TEXT
from ..support.serverprocess import make_share


@pytest.fixture
def share(tmp_path: Path) -> Path:
    """A directory holding one file, ``readme.txt``."""
    return make_share(tmp_path, README, README_TEXT)
