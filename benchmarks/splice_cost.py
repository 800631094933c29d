"""What zero-copy uploads save: plain STOR with ``os.splice`` against the buffered path.

Starts the benchmark server (``benchmarks/ftpserver.py trioftp``) once with
splicing (the default) and once with ``--no-splice``, alternating A, B, A,
B... for each round, uploads the same number of MiB from memory with the
benchmark client, and prints MB/s and the server's CPU seconds per GiB
(user + system, from ``/proc/<pid>/stat``) per round, then the medians.
On a shared machine the CPU figure is the one to trust.

    python -m benchmarks.splice_cost [--mib 1024] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.client import Session
from benchmarks.serverprocess import server_process

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process *pid* so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _upload(home: Path, mib: int, *, splice: bool) -> tuple[float, float]:
    """One upload of *mib* MiB; return (MB/s, server CPU s/GiB)."""
    arguments = ["trioftp", "--home", str(home), "--passive", "51000-51999"]
    if not splice:
        arguments.append("--no-splice")
    size = mib << 20
    with server_process(arguments) as (port, pid):
        session = Session(port)
        # Start with no dirty pages of the last upload being written back, and
        # warm pages (see workloads._prime_page_cache): the same for both.
        os.sync()
        scratch = home / ".prime"
        subprocess.run(
            ["dd", "if=/dev/zero", f"of={scratch}", "bs=1M", f"count={mib}"],
            check=True, capture_output=True,
        )  # fmt: skip
        scratch.unlink()
        cpu = _cpu_seconds(pid)
        start = time.perf_counter()
        session.stor("upload.bin", size)
        elapsed = time.perf_counter() - start
        cpu = _cpu_seconds(pid) - cpu
        assert (home / "upload.bin").stat().st_size == size
        session.command("DELE upload.bin")
        session.quit()
    return size / elapsed / 1e6, cpu / (size / (1 << 30))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mib", type=int, default=1024, help="MiB per upload (default 1024)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    options = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"splice": [], "buffered": []}
    with tempfile.TemporaryDirectory() as directory:
        home = Path(directory)
        for round_number in range(1, options.rounds + 1):
            for name, rows in results.items():
                rate, cpu = _upload(home, options.mib, splice=name == "splice")
                rows.append((rate, cpu))
                print(
                    f"round {round_number}: {name:8}  MB/s {rate:7.0f}  server CPU s/GiB {cpu:.3f}"
                )
    for name, rows in results.items():
        rate = statistics.median(row[0] for row in rows)
        cpu = statistics.median(row[1] for row in rows)
        print(f"median  : {name:8}  MB/s {rate:7.0f}  server CPU s/GiB {cpu:.3f}")


if __name__ == "__main__":
    main()
