"""Cross-check ``benchmarks.run`` with an independent load generator.

``ftpbench.py`` (``../shared/bench/``, outside this project) measures any FTP
server. This script runs it against trioftp and pyftpdlib 2.2.0, plain and
FTPS, servers interleaved (A, B, A, B, ...) for several rounds, and prints the
median of each figure with the ratio trioftp / pyftpdlib::

    python -m benchmarks.ftpbench_cross --rounds 5
    python -m benchmarks.ftpbench_cross --rounds 3 --scenarios retr,stor --tls-only

Both servers are ``benchmarks/ftpserver.py``: the same user, home directory,
passive port range and listen backlog as ``benchmarks.run``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from trioftp.tls.certificates import self_signed_certificate

from .serverprocess import server_process

IMPLEMENTATIONS = ("trioftp", "pyftpdlib")
SCENARIOS = ("retr", "stor", "login-rate", "latency", "concurrency")
_DEFAULT_FTPBENCH = Path(__file__).resolve().parents[2] / "shared" / "bench" / "ftpbench.py"

#: scenario -> the figures read from its JSON line: (label, how to read it, better when)
FIGURES: dict[str, list[tuple[str, str, str]]] = {
    "retr": [("MB/s", "mb_per_s", "higher"), ("server CPU s/GiB", "cpu_per_gib", "lower")],
    "stor": [("MB/s", "mb_per_s", "higher"), ("server CPU s/GiB", "cpu_per_gib", "lower")],
    "login-rate": [
        ("logins/s", "logins_per_s", "higher"),
        ("server CPU us/login", "server_cpu_us_per_login", "lower"),
    ],
    "latency": [
        (f"p50 us {command}", f"per_command_p50_us.{command}", "lower")
        for command in ("NOOP", "PWD", "SIZE", "CWD")
    ],
    "concurrency": [
        ("wall s", "wall_s", "lower"),
        ("failed", "failed", "lower"),
        ("server CPU ms/session", "cpu_ms_per_session", "lower"),
    ],
}


def _read(result: dict[str, object], key: str) -> float | None:
    if key == "cpu_per_gib":
        cpu, nbytes = result.get("server_cpu_s"), result.get("bytes")
        return float(cpu) / (float(nbytes) / 2**30) if cpu is not None and nbytes else None  # type: ignore[arg-type]
    if key == "cpu_ms_per_session":
        cpu, clients = result.get("server_cpu_s"), result.get("clients")
        return float(cpu) * 1000 / float(clients) if cpu is not None and clients else None  # type: ignore[arg-type]
    value: object = result
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _figures(values: list[float]) -> str:
    return ", ".join(f"{value:.1f}" for value in values)


def run_ftpbench(
    ftpbench: Path, port: int, pid: int, scenarios: list[str], *, tls: bool, size_mb: int
) -> list[dict[str, object]]:
    """One ftpbench run against a server on *port*; its JSON lines."""
    command = [sys.executable, str(ftpbench), "--port", str(port), "--user", "bench"]
    command += ["--password", "bench", "--server-pid", str(pid), "--json"]
    command += ["--size-mb", str(size_mb), "--clients", "200", "--seconds", "5"]
    command += ["--count", "4000", *(["--tls"] if tls else []), *scenarios]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    results = [json.loads(line) for line in finished.stdout.splitlines() if line.startswith("{")]
    for result in results:
        if "error" in result:
            print(f"  {result['scenario']}: {result['error']}", file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--size-mb", type=int, default=1024, help="retr/stor size in MiB")
    parser.add_argument("--plain-only", action="store_true")
    parser.add_argument("--tls-only", action="store_true")
    parser.add_argument("--ftpbench", type=Path, default=_DEFAULT_FTPBENCH)
    parser.add_argument("--json", type=Path, help="also write every result line here")
    options = parser.parse_args(argv)
    if not options.ftpbench.exists():
        parser.error(f"{options.ftpbench} not found (pass --ftpbench PATH)")
    scenarios = options.scenarios.split(",")
    modes = [False] if options.plain_only else [True] if options.tls_only else [False, True]
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    scratch = Path(tempfile.mkdtemp(prefix="trioftp-ftpbench-"))
    home = scratch / "home"
    home.mkdir()
    certificate = self_signed_certificate(scratch / "tls")
    keycert = scratch / "keycert.pem"
    keycert.write_bytes(certificate.keyfile.read_bytes() + certificate.certfile.read_bytes())

    # values[(tls, scenario, label)][implementation] -> one value per round
    values: dict[tuple[bool, str, str], dict[str, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    lines: list[dict[str, object]] = []
    for number in range(options.rounds):
        for tls in modes:
            for implementation in IMPLEMENTATIONS:
                print(
                    f"round {number + 1}/{options.rounds}: {implementation}"
                    f"{' FTPS' if tls else ''}",
                    file=sys.stderr,
                    flush=True,
                )
                arguments = [implementation, "--home", str(home), "--passive", "50000-50999"]
                arguments += ["--backlog", "1024"]
                arguments += ["--certfile", str(keycert)] if tls else []
                with server_process(arguments) as (port, pid):
                    results = run_ftpbench(
                        options.ftpbench, port, pid, scenarios, tls=tls, size_mb=options.size_mb
                    )
                for result in results:
                    result["implementation"], result["round"] = implementation, number + 1
                    lines.append(result)
                    for label, key, _ in FIGURES.get(str(result["scenario"]), []):
                        value = _read(result, key)
                        if value is not None:
                            values[(tls, str(result["scenario"]), label)][implementation].append(
                                value
                            )
    print(f"\nftpbench, {options.rounds} rounds, medians (each round's figure in brackets)")
    header = ("mode", "scenario", "figure", "trioftp", "pyftpdlib", "ratio")
    print("{:5} {:12} {:24} {:>10} {:>10} {:>7}".format(*header))
    for (tls, scenario, label), by_implementation in values.items():
        ours, theirs = by_implementation["trioftp"], by_implementation["pyftpdlib"]
        if not ours or not theirs:
            continue
        a, b = statistics.median(ours), statistics.median(theirs)
        ratio = f"{a / b:.2f}" if b else "-"
        mode = "FTPS" if tls else "plain"
        rounds = f"[{_figures(ours)}] / [{_figures(theirs)}]"
        print(f"{mode:5} {scenario:12} {label:24} {a:10.1f} {b:10.1f} {ratio:>7}   {rounds}")
    if options.json:
        options.json.write_text(json.dumps(lines, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
