"""The benchmark runner works (a smoke run: tiny sizes, one round, no thresholds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_runs_every_workload(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--home", str(tmp_path / "home"),
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "trioftp vs pyftpdlib" in result.stdout
    rows = json.loads(out.read_text())["rows"]
    workloads = {row["workload"] for row in rows}
    assert workloads == {
        "retr", "stor", "retr-tls", "stor-tls", "login", "latency", "idle", "burst",
        "downloads", "list",
    }  # fmt: skip
    for row in rows:
        if row["figure"] == "KiB/session":
            continue  # memory per session over a handful of sessions is noise, maybe < 0
        assert row["trioftp"] >= 0, row
        assert row["pyftpdlib"] >= 0, row
    burst_failures = [row for row in rows if row["figure"] == "failed"]
    assert burst_failures == [{**burst_failures[0], "trioftp": 0.0, "pyftpdlib": 0.0}], (
        "the smoke run's sessions must all succeed"
    )


def _run_module(module: str, *arguments: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_binding_cost_reports_both_ways() -> None:
    out = _run_module("benchmarks.binding_cost", "--seconds", "0.3", "--rounds", "1")
    assert "off" in out
    assert "logins/s" in out


def test_tls_receive_cost_reports_every_stream_both_ways() -> None:
    out = _run_module("benchmarks.tls_receive_cost", "--mib", "8", "--rounds", "1")
    lines = out.splitlines()
    assert lines[0] == "moving 8 MiB of TLS, medians of 1 rounds"
    kinds = ["trio.SSLStream", "DataTLSStream", "blocking"]
    assert [line.split()[:2] for line in lines[1:]] == [
        [direction, kind] for direction in ("receive", "send") for kind in kinds
    ]
    assert all("MB/s" in line and "CPU s/GiB" in line for line in lines[1:])


def test_session_cost_reports_login_and_command_cpu() -> None:
    out = _run_module(
        "benchmarks.session_cost", "--sessions", "20", "--noops", "5", "--rounds", "1"
    )
    first, second = out.splitlines()
    assert first.startswith("login session: ")
    assert first.endswith(" us CPU (best of 1 rounds)")
    assert second.startswith("with 5 NOOPs: ")
    assert "per NOOP:" in second


def test_upload_hash_reports_each_setting(tmp_path: Path) -> None:
    out = _run_module(
        "benchmarks.upload_hash", "--mib", "8", "--rounds", "1", "--algorithms", "SHA-256,CRC32",
        "--home", str(tmp_path / "home"),
    )  # fmt: skip
    lines = out.strip().splitlines()
    assert (
        lines[0]
        == "upload of 8 MiB, hash_uploads off and on - medians of 1 round(s), "
        + (lines[0].rsplit(", ", 1)[1])
    )
    assert [line.split()[0] for line in lines[-3:]] == ["off", "SHA-256", "CRC32"]


def test_proxy_cost_reports_parsing_and_logins() -> None:
    out = _run_module(
        "benchmarks.proxy_cost", "--seconds", "0.2", "--rounds", "1", "--parses", "100",
        "--sessions", "20",
    )  # fmt: skip
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "parse v1 TCP4",
        "parse v2 TCP6+TLV",
        "CPU per login session (best of 1 rounds)",
        "logins/s, one client, medians of 1 rounds",
        "  direct",
        "  HAProxy",
        "  HAProxy + PROXY v2",
    ]


def test_transfer_memory_cost_reports_both_settings() -> None:
    out = _run_module("benchmarks.transfer_memory_cost", "--mib", "4", "--rounds", "1")
    lines = out.splitlines()
    assert lines[0] == "4 MiB, medians of 1 rounds"
    assert [line.split()[0] for line in lines[2:]] == [str(256 << 20), "0"]


def test_server_cpu_reports_every_figure_for_both_servers() -> None:
    out = _run_module(
        "benchmarks.server_cpu", "--rounds", "1", "--commands", "20", "--logins", "3",
        "--sessions", "5",
    )  # fmt: skip
    lines = [line for line in out.splitlines() if line]
    assert lines[0] == "server CPU per operation, median of 1 round(s)"
    assert lines[1].split() == ["figure", "trioftp", "pyftpdlib"]
    figures = [line[:22].strip() for line in lines[2:]]
    assert figures == [
        "NOOP us", "PWD us", "SIZE us", "CWD us", "login us", "short session ms",
        "short sessions failed", "FTPS login us",
    ]  # fmt: skip
    failed = lines[2 + figures.index("short sessions failed")].split()
    assert failed[-2:] == ["0.0", "0.0"]


def test_transfer_cost_reports_every_operation_for_both_servers() -> None:
    out = _run_module("benchmarks.transfer_cost", "--rounds", "1", "--count", "5")
    lines = [line for line in out.splitlines() if line]
    assert lines[0] == "server CPU us per operation, median of 1 round(s)"
    assert lines[1].split() == ["operation", "trioftp", "pyftpdlib"]
    assert [line.split()[0] for line in lines[2:]] == ["EPSV", "LIST", "RETR"]
