"""What atomic uploads cost: small files per second and big-upload MB/s, on and off.

Starts a trioftp server in a thread (worker-thread runner, as in production)
once with ``atomic_uploads`` off and once on, alternately for each round,
and uploads over one ftplib session: *files* small files (each one a
partial created, written, renamed onto its target - and the directory listed
for expired partials), the same into a directory already holding *crowd*
entries (the expiry check lists it), and one big file (MB/s). Prints the
median of the rounds for each.

    python -m benchmarks.atomic_upload_cost --files 500 --crowd 10000 --big-mib 512 --rounds 3
"""

from __future__ import annotations

import argparse
import ftplib
import io
import shutil
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


@contextmanager
def _server(home: Path, atomic: bool) -> Iterator[int]:
    authorizer = DummyAuthorizer()
    authorizer.add_user("bench", "bench", str(home), perm="elradfmwMT")
    handler = type(
        "CostHandler", (FTPHandler,), {"authorizer": authorizer, "atomic_uploads": atomic}
    )
    server = FTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"handle_exit": False})
    thread.start()
    try:
        yield server.address[1]
    finally:
        server.close_all()
        thread.join(10)


def _small_files(ftp: ftplib.FTP, directory: str, files: int) -> float:
    """Files per second for *files* 4 KiB uploads into *directory*."""
    data = b"x" * 4096
    started = time.perf_counter()
    for n in range(files):
        ftp.storbinary(f"STOR {directory}/f{n}.bin", io.BytesIO(data))
    return files / (time.perf_counter() - started)


def _big_file(ftp: ftplib.FTP, mib: int) -> float:
    """MB/s for one upload of *mib* MiB."""
    data = io.BytesIO(b"\0" * (mib << 20))
    started = time.perf_counter()
    ftp.storbinary("STOR big.bin", data, blocksize=1 << 20)
    return (mib << 20) / (time.perf_counter() - started) / 1e6


def _round(atomic: bool, files: int, crowd: int, big_mib: int) -> tuple[float, float, float]:
    home = Path(tempfile.mkdtemp(prefix="trioftp-atomic-bench-"))
    try:
        (home / "empty").mkdir()
        (home / "crowded").mkdir()
        for n in range(crowd):
            (home / "crowded" / f"other{n}").touch()
        with _server(home, atomic) as port, ftplib.FTP() as ftp:
            ftp.connect("127.0.0.1", port)
            ftp.login("bench", "bench")
            return (
                _small_files(ftp, "empty", files),
                _small_files(ftp, "crowded", files),
                _big_file(ftp, big_mib),
            )
    finally:
        shutil.rmtree(home)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=500, help="small files per round")
    parser.add_argument("--crowd", type=int, default=10_000, help="entries in the crowded dir")
    parser.add_argument("--big-mib", type=int, default=512, help="size of the big upload")
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args(argv)
    results: dict[bool, list[tuple[float, float, float]]] = {False: [], True: []}
    for _ in range(options.rounds):
        for atomic in (False, True):
            figures = _round(atomic, options.files, options.crowd, options.big_mib)
            results[atomic].append(figures)
    print(f"{'atomic_uploads':<16}{'files/s':>10}{'files/s, crowded':>18}{'big MB/s':>10}")
    for atomic, rounds in results.items():
        medians = [statistics.median(column) for column in zip(*rounds, strict=True)]
        print(f"{atomic!s:<16}{medians[0]:>10.0f}{medians[1]:>18.0f}{medians[2]:>10.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
