"""Benchmark trioftp against pyftpdlib, side by side, in one run.

    python -m benchmarks.run                # full run: 3 rounds, every workload
    python -m benchmarks.run --quick        # CI smoke run: tiny sizes, 1 round
    python -m benchmarks.run --rounds 5 --only retr,stor --json out.json

Each round starts trioftp and pyftpdlib in turn (A, B, A, B, ...) with the same
user, home directory, passive port range and listen backlog, and drives each
with the same client code (``benchmarks/client.py``). The table gives the
median of the rounds for each implementation, the ratio trioftp / pyftpdlib,
the target, and the client's own CPU time, so a client-bound figure shows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import ssl
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trioftp.tls.certificates import self_signed_certificate

from .serverprocess import server_process
from .workloads import RUNS, TARGETS, Bench, Sizes, make_fixtures

IMPLEMENTATIONS = ("trioftp", "pyftpdlib")
# figures[implementation][run][figure] -> one value per round
Figures = dict[str, dict[str, dict[str, list[float]]]]


@contextmanager
def server(
    implementation: str, home: Path, *, certfile: str | None = None
) -> Iterator[tuple[int, int]]:
    """Run one server process; yield its port and pid."""
    arguments = [implementation, "--home", str(home), "--passive", "50000-50999"]
    arguments += ["--backlog", "1024"]
    if certfile:
        arguments += ["--certfile", certfile]
    with server_process(arguments) as started:
        yield started


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_round(
    implementation: str, home: Path, sizes: Sizes, only: list[str], tls: tuple[str, ssl.SSLContext]
) -> dict[str, dict[str, float]]:
    """Every selected workload once against fresh servers of *implementation*."""
    certfile, client_context = tls
    results: dict[str, dict[str, float]] = {}
    with (
        server(implementation, home) as (port, pid),
        server(implementation, home, certfile=certfile) as (tls_port, tls_pid),
    ):
        for name, workload in RUNS.items():
            if name not in only:
                continue
            bench = Bench(port, pid, home, sizes, tls_port, client_context)
            if name.endswith("-tls"):
                bench.pid = tls_pid
            cpu = client_cpu()
            figures = workload(bench)
            figures["client CPU s"] = client_cpu() - cpu
            results[name] = figures
            print(
                f"  {implementation:9s} {name:9s} "
                + ", ".join(f"{key} {value:.4g}" for key, value in figures.items()),
                file=sys.stderr,
                flush=True,
            )
    return results


def table(figures: Figures, only: list[str]) -> list[dict[str, object]]:
    """One row per target: medians, ratio, target, met."""
    rows = []
    for target in TARGETS:
        if target.run not in only:
            continue
        ours = statistics.median(figures["trioftp"][target.run][target.figure])
        theirs = statistics.median(figures["pyftpdlib"][target.run][target.figure])
        rows.append(
            {
                "workload": target.run,
                "figure": target.figure,
                "trioftp": ours,
                "pyftpdlib": theirs,
                "ratio": ours / theirs if theirs else float("inf"),
                "target": target.describe(),
                "met": target.met(ours, theirs),
                "client CPU s (trioftp/pyftpdlib)": (
                    statistics.median(figures["trioftp"][target.run]["client CPU s"]),
                    statistics.median(figures["pyftpdlib"][target.run]["client CPU s"]),
                ),
            }
        )
    return rows


def print_table(rows: list[dict[str, object]], rounds: int) -> None:
    print(f"\ntrioftp vs pyftpdlib - medians of {rounds} round(s), {os.cpu_count()} CPUs\n")
    header = (
        f"{'workload':10} {'figure':18} {'trioftp':>10} {'pyftpdlib':>10} {'ratio':>7} "
        f"{'target':>8} {'met':>4}  client CPU s"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        cpu_ours, cpu_theirs = row["client CPU s (trioftp/pyftpdlib)"]  # type: ignore[misc]
        met = "yes" if row["met"] else "NO"
        figures = f"{row['trioftp']:10.4g} {row['pyftpdlib']:10.4g} {row['ratio']:7.2f}"
        print(
            f"{row['workload']:10} {row['figure']:18} {figures} {row['target']:>8} {met:>4}  "
            f"{cpu_ours:.2f} / {cpu_theirs:.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 round (CI smoke run)")
    parser.add_argument("--rounds", type=int, help="rounds (default 3; 1 with --quick)")
    parser.add_argument("--only", help=f"comma-separated workloads of: {','.join(RUNS)}")
    parser.add_argument("--home", type=Path, help="fixture directory (default: a cache dir)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    options = parser.parse_args(argv)
    sizes = Sizes.quick() if options.quick else Sizes()
    rounds = options.rounds or (1 if options.quick else 3)
    only = options.only.split(",") if options.only else list(RUNS)
    unknown = set(only) - set(RUNS)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    _raise_fd_limit()
    home = (
        options.home
        or Path(tempfile.gettempdir()) / f"trioftp-bench-{'quick' if options.quick else 'full'}"
    )
    make_fixtures(home, sizes)
    certificate = self_signed_certificate(home.parent / f"{home.name}-tls")
    client_context = ssl.create_default_context(cafile=str(certificate.certfile))
    client_context.check_hostname = False
    tls = (str(certificate.certfile), client_context)
    # self_signed_certificate keeps the key beside the certificate: serve both in one file.
    keycert = home.parent / f"{home.name}-tls" / "keycert.pem"
    keycert.write_bytes(certificate.keyfile.read_bytes() + certificate.certfile.read_bytes())
    tls = (str(keycert), client_context)

    figures: Figures = {name: defaultdict(lambda: defaultdict(list)) for name in IMPLEMENTATIONS}
    started = time.monotonic()
    for number in range(rounds):
        for implementation in IMPLEMENTATIONS:
            print(f"round {number + 1}/{rounds}: {implementation}", file=sys.stderr, flush=True)
            for run, values in run_round(implementation, home, sizes, only, tls).items():
                for figure, value in values.items():
                    figures[implementation][run][figure].append(value)
    rows = table(figures, only)
    print_table(rows, rounds)
    print(f"\n({time.monotonic() - started:.0f} s)")
    if options.json:
        options.json.write_text(
            json.dumps(
                {"rounds": rounds, "cpus": os.cpu_count(), "rows": rows, "figures": figures},
                indent=2,
                default=list,
            )
        )
    return 0


def _raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


if __name__ == "__main__":
    raise SystemExit(main())
