"""benchmarks.storage runs (a smoke run: a few MiB, one round, no thresholds)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_storage_benchmark_reports_rates_and_memory() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.storage", "--size-mib", "6", "--part-mib", "5"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("object storage benchmark: 6 MiB per transfer, 1 round(s), part")
    assert re.fullmatch(r"upload +[\d.]+ +[\d.]+ +[\d.]+", lines[2])
    assert re.fullmatch(r"download +[\d.]+ +[\d.]+ +[\d.]+", lines[3])
    assert re.fullmatch(r"server peak RSS: \d+ MiB after login, .* for 6 MiB uploaded\)", lines[4])
