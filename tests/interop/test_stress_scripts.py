"""The socket fuzzer and the soak script work (smoke runs: small sizes, real server process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_script(name: str, *arguments: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / name), *arguments, "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    figures: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    assert result.returncode == (0 if figures["ok"] else 1), result.stderr[-3000:]
    return figures


def test_socket_fuzzer_short_run() -> None:
    figures = run_script(
        "fuzz_server.py", "--commands", "20000", "--sessions", "20", "--seconds", "15"
    )
    assert figures["crashes"] == []
    assert figures["malformed_replies"] == []
    assert figures["server_alive"]
    assert figures["normal_service_after"]
    assert figures["commands"] >= 20000
    assert figures["after"]["fds"] <= figures["before"]["fds"] + 4
    assert figures["ok"], figures


def test_soak_short_run() -> None:
    figures = run_script("soak.py", "--minutes", "0.05", "--sessions", "8", "--interval", "1")
    assert figures["crashes"] == []
    assert figures["damaged"] == []
    assert figures["downloads_wrong"] == []
    assert figures["uploads_complete"] > 0
    assert figures["downloads_exact"] > 0
    assert figures["last"]["fds"] <= figures["first"]["fds"] + 4
    assert figures["ok"], figures
