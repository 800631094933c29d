"""What the transfer memory budget costs: upload and download MB/s with it on and off.

Starts a trioftp server in a thread (worker-thread runner, as in production)
with ``FTPServer.max_transfer_memory`` at its default (256 MiB) and at 0 (no
budget), alternately (which goes first alternates too), and moves one big file over ftplib:
a binary upload (blocks paid for from the budget) and an ASCII download (a
buffered send, whose read-ahead blocks are paid for too; binary downloads
use sendfile and hold no buffer). Prints the median of the rounds for each.

    python -m benchmarks.transfer_memory_cost --mib 512 --rounds 5
"""

from __future__ import annotations

import argparse
import ftplib
import io
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler
from trioftp.servers import FTPServer

DEFAULT_BUDGET = FTPServer.max_transfer_memory


@contextmanager
def _server(home: Path, budget: int) -> Iterator[tuple[str, int]]:
    authorizer = DummyAuthorizer()
    authorizer.add_user("bench", "bench", str(home), perm="elradfmw")
    handler = type("CostHandler", (FTPHandler,), {"authorizer": authorizer})
    server = FTPServer(("127.0.0.1", 0), handler)
    server.max_transfer_memory = budget
    thread = threading.Thread(target=server.serve_forever, kwargs={"handle_exit": False})
    thread.start()
    try:
        yield server.address
    finally:
        server.close_all()
        thread.join()


def _round(home: Path, budget: int, data: bytes) -> tuple[float, float]:
    """Upload MB/s and ASCII download MB/s through one server."""
    with _server(home, budget) as (host, port):
        ftp = ftplib.FTP()
        ftp.connect(host, port)
        ftp.login("bench", "bench")
        start = time.perf_counter()
        ftp.storbinary("STOR big.bin", io.BytesIO(data), blocksize=1 << 20)
        upload = len(data) / (time.perf_counter() - start) / 1e6
        received = 0

        def count(line: str) -> None:
            nonlocal received
            received += len(line) + 2

        start = time.perf_counter()
        ftp.retrlines("RETR big.bin", count)
        download = received / (time.perf_counter() - start) / 1e6
        ftp.quit()
    (home / "big.bin").unlink()
    return upload, download


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=512, help="size of the file moved")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    # Text lines of 100 bytes, so that the ASCII download has lines to convert.
    line = os.urandom(50).hex()[:99].encode() + b"\n"
    data = line * ((args.mib << 20) // len(line))
    results: dict[int, list[tuple[float, float]]] = {DEFAULT_BUDGET: [], 0: []}
    with tempfile.TemporaryDirectory() as directory:
        home = Path(directory)
        for index in range(args.rounds):
            # Which setting goes first alternates: the second upload of a
            # round reuses the pages the first one's file just freed.
            order = list(results.items())
            for budget, rounds in order if index % 2 == 0 else reversed(order):
                rounds.append(_round(home, budget, data))
    print(f"{args.mib} MiB, medians of {args.rounds} rounds")
    print(f"{'max_transfer_memory':<22}{'upload MB/s':>12}{'ASCII download MB/s':>21}")
    for budget, rounds in results.items():
        upload = statistics.median(r[0] for r in rounds)
        download = statistics.median(r[1] for r in rounds)
        print(f"{budget:<22}{upload:>12.0f}{download:>21.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
