"""Starting a benchmark server process (``benchmarks/ftpserver.py``) and stopping it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = ["server_process"]

_SERVER_SCRIPT = Path(__file__).with_name("ftpserver.py")


@contextmanager
def server_process(arguments: Sequence[str]) -> Iterator[tuple[int, int]]:
    """Run ``ftpserver.py ARGUMENTS``; yield its port and pid once it prints ``READY``."""
    process = subprocess.Popen(
        [sys.executable, str(_SERVER_SCRIPT), *arguments], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"{arguments[0]} did not start: {line!r}")
        yield int(line.split()[1]), process.pid
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
