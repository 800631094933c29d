"""Atomic uploads with real clients: an interrupted ``curl -T`` resumed with
``curl -C - -T``, and lftp's ``put -c`` continuing a partial upload."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from trioftp.dtp import DTPHandler
from trioftp.servers import FTPServer
from trioftp.session.partials import PARTIAL_PREFIX, resumable_partial

from ..support.interop import (
    assert_ok,
    curl_commands,
    lftp_commands,
    lftp_replies,
    put,
    run_curl,
    run_lftp,
)
from ..support.servers import PASSWORD, USER, ThreadedServer, make_handler, serve_in_thread

DATA = random.Random(14).randbytes(3 * 1024 * 1024 + 17)
OLD = b"the previous version\n"


class SmallBlocks(DTPHandler):
    """Received bytes reach the disk every 64 KiB, so the test sees the upload progress;
    an upload that stalls for a second is given up."""

    disk_block_size = 64 * 1024
    timeout = 1


@pytest.fixture
def atomic_server(home: Path) -> Iterator[ThreadedServer]:
    handler = make_handler(home, atomic_uploads=True, dtp_handler=SmallBlocks)
    with serve_in_thread(FTPServer(("127.0.0.1", 0), handler), home) as running:
        yield running


def wait_for(condition: object, what: str, timeout: float = 15) -> None:
    """Poll *condition* (a callable) until it is true."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def partial_sizes(home: Path) -> list[int]:
    return [p.stat().st_size for p in home.iterdir() if p.name.startswith(PARTIAL_PREFIX)]


def test_interrupted_curl_upload_resumes(
    curl_binary: str, atomic_server: ThreadedServer, workdir: Path
) -> None:
    home = atomic_server.home
    target = put(home / "up.bin", OLD)
    source = put(workdir / "src.bin", DATA)
    url = f"ftp://{USER}:{PASSWORD}@{atomic_server.host}:{atomic_server.port}/up.bin"
    # A slow upload that stalls part-way (curl is frozen, as by a network
    # outage): the server gives up on it after the data timeout. (Not a kill:
    # the kernel then closes both connections at once, and a data connection
    # whose end arrives first is, in stream mode, a complete file.)
    slow = subprocess.Popen(
        [curl_binary, "-sS", "--limit-rate", "400K", "-T", str(source), url],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: any(size >= 64 * 1024 for size in partial_sizes(home)), "bytes")
        slow.send_signal(signal.SIGSTOP)
        resumable = Path(resumable_partial(str(target), USER))
        wait_for(resumable.exists, "the resumable partial")
    finally:
        slow.send_signal(signal.SIGKILL)
        slow.wait(10)
    received = resumable.stat().st_size
    assert 64 * 1024 <= received < len(DATA)
    assert resumable.read_bytes() == DATA[:received]
    assert target.read_bytes() == OLD  # the previous version, whole
    # curl -C - asks SIZE (the partial's), then appends the rest.
    result = run_curl(curl_binary, "-C", "-", "-T", str(source), url, cwd=workdir, timeout=30)
    assert result.returncode == 0, result.stderr
    assert curl_commands(result)[-2:] == ["SIZE up.bin", "APPE up.bin"]
    assert f"< 213 {received}".encode() in result.stderr
    assert target.read_bytes() == DATA
    assert partial_sizes(home) == []


def test_lftp_put_continue_resumes_the_partial(
    lftp_binary: str, atomic_server: ThreadedServer, workdir: Path
) -> None:
    home = atomic_server.home
    target = put(home / "up.bin", OLD)
    put(workdir / "src.bin", DATA)
    received = 1_000_003  # what an earlier, broken upload by this user left
    Path(resumable_partial(str(target), USER)).write_bytes(DATA[:received])
    url = f"ftp://{atomic_server.host}:{atomic_server.port}"
    result = run_lftp(
        lftp_binary,
        "set ftp:ssl-allow no",
        f"-u {USER},{PASSWORD} {url}",
        "put -c src.bin -o up.bin",
        cwd=workdir,
        timeout=30,
    )
    assert_ok(result)
    commands = lftp_commands(result)
    # lftp asks SIZE (the partial's), then restarts the upload there.
    after_size = [
        c for c in commands[commands.index("SIZE up.bin") :] if c.split()[0] in ("REST", "STOR")
    ]
    assert after_size == [f"REST {received}", "STOR up.bin"]
    assert f"213 {received}" in lftp_replies(result)
    assert target.read_bytes() == DATA
    assert partial_sizes(home) == []
