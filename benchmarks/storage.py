"""Object storage through trioftp: FTP throughput against s3fs alone, and server memory.

Starts moto's S3 server (``moto[server]``) and ``trioftp --storage s3://...``
as subprocesses on loopback, then, for *size* bytes:

* uploads them over FTP (STOR, so FsspecFS streams a multipart upload) and
  downloads them back (RETR, ranged reads), and does the same with s3fs
  directly from this process (an ``S3File`` with the same part size), and
  prints MB/s for both and the ratio FTP / s3fs;
* reads the server process's peak RSS (``VmHWM``) after login and after the
  upload: the growth is bounded by the part size (``--part-mib``, 16 by default), not by
  the file's size.

    python -m benchmarks.storage                 # 1 GiB
    python -m benchmarks.storage --size-mib 256 --rounds 3 --part-mib 5

Both paths talk to the same S3 server, which is the bottleneck of either;
the ratio shows what FTP and the server add on top of s3fs.
"""

from __future__ import annotations

import argparse
import contextlib
import ftplib
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import s3fs  # type: ignore[import-untyped]

from trioftp.storage import FsspecFS

KEY, SECRET, BUCKET = "bench-key", "bench-secret", "bench"
BLOCK = 1 << 20
PATTERN = random.Random(7).randbytes(8 * BLOCK)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


@contextlib.contextmanager
def _process(argv: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _blocks(size: int) -> Iterator[memoryview]:
    view, sent = memoryview(PATTERN), 0
    while sent < size:
        start = sent % len(PATTERN)
        piece = view[start : start + min(BLOCK, size - sent)]
        sent += len(piece)
        yield piece


def _peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        found = re.search(r"VmHWM:\s+(\d+) kB", status.read())
    assert found is not None
    return int(found.group(1)) / 1024


def _ftp_upload(ftp: ftplib.FTP, name: str, size: int) -> float:
    started = time.perf_counter()
    with ftp.transfercmd(f"STOR {name}") as data:
        for piece in _blocks(size):
            data.sendall(piece)
    reply = ftp.voidresp()
    assert reply.startswith("226"), reply
    return time.perf_counter() - started


def _ftp_download(ftp: ftplib.FTP, name: str, size: int) -> float:
    buffer, received = bytearray(BLOCK), 0
    started = time.perf_counter()
    with ftp.transfercmd(f"RETR {name}") as data:
        while count := data.recv_into(buffer):
            received += count
    ftp.voidresp()
    assert received == size, (received, size)
    return time.perf_counter() - started


def _s3fs_upload(fs: Any, path: str, size: int, part: int) -> float:
    started = time.perf_counter()
    with fs.open(path, "wb", block_size=part) as target:
        for piece in _blocks(size):
            target.write(piece)
    return time.perf_counter() - started


def _s3fs_download(fs: Any, path: str, size: int) -> float:
    received = 0
    started = time.perf_counter()
    with fs.open(path, "rb", block_size=FsspecFS.read_block_size) as source:
        while data := source.read(BLOCK):
            received += len(data)
    assert received == size, (received, size)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="bytes per transfer (MiB)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds (the median is shown)")
    parser.add_argument(
        "--part-mib", type=int, default=FsspecFS.part_size >> 20, help="multipart part size (MiB)"
    )
    options = parser.parse_args()
    size, part = options.size_mib << 20, options.part_mib << 20
    s3_port = _free_port()
    endpoint = f"http://127.0.0.1:{s3_port}"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
    moto = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)]
    with _process(moto, env):
        _wait_port(s3_port)
        fs = s3fs.S3FileSystem(key=KEY, secret=SECRET, endpoint_url=endpoint)
        fs.mkdir(BUCKET)
        server_argv = [
            sys.executable, "-m", "trioftp", "-p", "0", "-w", "-u", "bench", "-P", "bench",
            "--storage", f"s3://{BUCKET}/ftp", f"--storage-option=part_size={part}",
        ]  # fmt: skip
        with _process(server_argv, env) as server:
            assert server.stdout is not None
            line = server.stdout.readline()
            port = int(re.search(r"ftp://127\.0\.0\.1:(\d+)/", line).group(1))  # type: ignore[union-attr]
            _run(fs, port, server.pid, size, part, options.rounds)


def _run(fs: Any, port: int, pid: int, size: int, part: int, rounds: int) -> None:
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", port)
    ftp.login("bench", "bench")
    ftp.voidcmd("TYPE I")
    rss_before = _peak_rss_mib(pid)
    times: dict[str, list[float]] = {
        name: [] for name in ("ftp-up", "ftp-down", "s3-up", "s3-down")
    }
    rss_after = rss_before
    for _ in range(rounds):
        times["ftp-up"].append(_ftp_upload(ftp, "big.bin", size))
        rss_after = max(rss_after, _peak_rss_mib(pid))
        times["ftp-down"].append(_ftp_download(ftp, "big.bin", size))
        times["s3-up"].append(_s3fs_upload(fs, f"{BUCKET}/direct.bin", size, part))
        times["s3-down"].append(_s3fs_download(fs, f"{BUCKET}/direct.bin", size))
        ftp.delete("big.bin")
        fs.rm_file(f"{BUCKET}/direct.bin")
    ftp.quit()
    mb = size / 1e6

    def rate(name: str) -> float:
        return mb / statistics.median(times[name])

    print(f"object storage benchmark: {size >> 20} MiB per transfer, {rounds} round(s), "
          f"part size {part >> 20} MiB, moto S3 on loopback")  # fmt: skip
    print(f"{'':10} {'FTP MB/s':>10} {'s3fs MB/s':>10} {'ratio':>7}")
    for label, prefix in (("upload", "up"), ("download", "down")):
        ftp_rate, s3_rate = rate(f"ftp-{prefix}"), rate(f"s3-{prefix}")
        print(f"{label:10} {ftp_rate:10.1f} {s3_rate:10.1f} {ftp_rate / s3_rate:7.2f}")
    print(f"server peak RSS: {rss_before:.0f} MiB after login, {rss_after:.0f} MiB after the "
          f"upload (+{rss_after - rss_before:.0f} MiB for {size >> 20} MiB uploaded)")  # fmt: skip


if __name__ == "__main__":
    main()
