"""The cost of hashing uploads as they are written (``hash_uploads``), and what it saves.

    python -m benchmarks.upload_hash                    # 1 GiB, 3 rounds: off, SHA-256, MD5, CRC32
    python -m benchmarks.upload_hash --mib 256 --rounds 5 --algorithms SHA-256

Each round starts one trioftp server per setting in turn (hashing off, then
each algorithm) and uploads the same bytes with the benchmark's client
(``benchmarks/client.py``), after the same page-cache priming as
``benchmarks.run``'s ``stor``. It reports the median upload MB/s and
server CPU seconds per GiB, and how long ``HASH`` of the uploaded file
then takes: read from disk with hashing off, from the cache with it on.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .client import Session, _check
from .serverprocess import server_process
from .workloads import Bench, Sizes, _prime_page_cache

OFF = "off"


@contextmanager
def trioftp_server(home: Path, algorithm: str) -> Iterator[tuple[int, int]]:
    """One trioftp server process hashing uploads in *algorithm* (or not: ``off``)."""
    arguments = ["trioftp", "--home", str(home)]
    if algorithm != OFF:
        arguments += ["--hash-uploads", algorithm]
    with server_process(arguments) as started:
        yield started


def measure(home: Path, algorithm: str, mib: int) -> dict[str, float]:
    """Upload *mib* MiB once, then HASH it; the figures."""
    size = mib << 20
    with trioftp_server(home, algorithm) as (port, pid):
        bench = Bench(port, pid, home, Sizes())
        session = Session(port)
        hash_algorithm = "SHA-256" if algorithm == OFF else algorithm
        _check(session.command(f"OPTS HASH {hash_algorithm}"), b"200")
        os.sync()
        _prime_page_cache(home, size)
        cpu = bench.server_cpu()
        start = time.perf_counter()
        session.stor("upload.bin", size)
        elapsed = time.perf_counter() - start
        cpu = bench.server_cpu() - cpu
        start = time.perf_counter()
        _check(session.command("HASH upload.bin"), b"213")
        hash_seconds = time.perf_counter() - start
        _check(session.command("DELE upload.bin"), b"250")
        session.quit()
    return {
        "MB/s": size / elapsed / 1e6,
        "server CPU s/GiB": cpu / (size / (1 << 30)),
        "HASH s": hash_seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=1024, help="upload size (default 1024)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--algorithms", default="SHA-256,MD5,CRC32", help="comma-separated")
    parser.add_argument("--home", type=Path, help="server directory (default: a temp dir)")
    options = parser.parse_args(argv)
    settings = [OFF, *options.algorithms.split(",")]
    home = options.home or Path(tempfile.gettempdir()) / "trioftp-bench-upload-hash"
    home.mkdir(parents=True, exist_ok=True)
    figures: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for number in range(options.rounds):
        for setting in settings:
            print(f"round {number + 1}/{options.rounds}: {setting}", file=sys.stderr, flush=True)
            for figure, value in measure(home, setting, options.mib).items():
                figures[setting][figure].append(value)
    print(
        f"\nupload of {options.mib} MiB, hash_uploads off and on - medians of "
        f"{options.rounds} round(s), {os.cpu_count()} CPUs\n"
    )
    header = f"{'hash_uploads':14} {'MB/s':>8} {'vs off':>7} {'CPU s/GiB':>10} {'HASH s':>8}"
    print(header)
    print("-" * len(header))
    baseline = statistics.median(figures[OFF]["MB/s"])
    for setting in settings:
        rate = statistics.median(figures[setting]["MB/s"])
        cpu = statistics.median(figures[setting]["server CPU s/GiB"])
        hashing = statistics.median(figures[setting]["HASH s"])
        print(f"{setting:14} {rate:8.1f} {rate / baseline:7.2f} {cpu:10.2f} {hashing:8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
