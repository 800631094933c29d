"""``python -m benchmarks.models`` works (a smoke run: tiny sizes, one round, no thresholds)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_models_benchmark_reports_every_model() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.models", "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[1].split() == [
        "model", "logins/s", "vs", "async", "KiB/session", "vs", "async",
        "downloads", "s", "vs", "async", "CPU", "ms/dl",
    ]  # fmt: skip
    assert [line[:14].strip() for line in lines[2:6]] == [
        "async", "multi-thread", "multi-proc", "pre-fork x2",
    ]  # fmt: skip
    for line in lines[2:6]:
        assert float(line[14:24]) > 0, line  # every model served logins
        assert float(line[57:70]) > 0, line  # and the downloads, every one whole
    assert lines[6].startswith("pre-fork scaling, 2 workers against async (1 process): ")
    assert lines[7].startswith("pre-fork scaling, 2 workers against async: ")
