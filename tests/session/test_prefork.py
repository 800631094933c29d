"""Pre-fork (``serve_forever(worker_processes=N)``): a dead worker is replaced, and
workers never share passive ports. Stopping all of them with SIGTERM is in
``test_servers.py``. The server runs as a script in a subprocess (it forks).
"""

from __future__ import annotations

import contextlib
import ftplib
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from trioftp.servers.prefork import passive_port_share

from ..support.interop import download
from ..support.serverprocess import running
from .test_servers import children_of, script, served_by, share

__all__ = ["share"]  # the fixture, used here

WAIT = 10.0


def wait_for_children(parent: int, count: int, without: set[int]) -> set[int]:
    """The *count* children of *parent*, once none of *without* is among them."""
    deadline = time.monotonic() + WAIT
    while True:
        children = children_of(parent)
        if len(children) == count and not children & without:
            return children
        assert time.monotonic() < deadline, f"children now: {children}"
        time.sleep(0.02)


def test_a_dead_worker_is_replaced(tmp_path: Path, share: Path) -> None:
    body = "server.serve_forever(worker_processes=2)\n"
    workers: set[int] = set()
    try:
        with running(script(tmp_path, body), cwd=tmp_path) as server:
            parent = server.proc.pid
            first = workers = wait_for_children(parent, 2, set())
            killed = min(workers)
            os.kill(killed, signal.SIGKILL)
            workers = wait_for_children(parent, 2, {killed})
            # The new worker serves: every session is served by a live worker.
            clients = [server.ftp("user", "12345") for _ in range(6)]
            assert {served_by(ftp) for ftp in clients} <= workers
            for ftp in clients:
                assert download(ftp, "hello.txt") == b"Hello, FTP!\n"
            stderr = server.stop_cleanly(signal.SIGTERM)
        for pid in workers:  # every worker, the new one too, was stopped and reaped
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    (new,) = workers - first
    assert f"worker {killed} ended (killed by SIGKILL); starting a new one" in stderr
    assert f"worker {new} replaces worker {killed}" in stderr


def free_ports(count: int) -> list[int]:
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def test_workers_never_share_passive_ports(tmp_path: Path, share: Path) -> None:
    ports = free_ports(8)
    body = f"Handler.passive_ports = {ports!r}\nserver.serve_forever(worker_processes=2)\n"
    shares = [set(ports[0::2]), set(ports[1::2])]
    by_worker: dict[int, set[int]] = {}
    with running(script(tmp_path, body), cwd=tmp_path) as server:
        clients = [server.ftp("user", "12345") for _ in range(4)]  # <= 4 ports each
        try:
            for ftp in clients:
                _, port = ftp.makepasv()
                by_worker.setdefault(served_by(ftp), set()).add(port)
        finally:
            for ftp in clients:
                with contextlib.suppress(OSError, EOFError, ftplib.Error):
                    ftp.close()
        server.stop_cleanly(signal.SIGTERM)
    # Each worker hands out ports from its own share only, and no two the same share.
    owners = [
        next(i for i, part in enumerate(shares) if used <= part) for used in by_worker.values()
    ]
    assert len(owners) == len(set(owners))


def test_passive_port_shares() -> None:
    assert passive_port_share(None, 0, 2) is None
    assert passive_port_share(range(6000, 6005), 0, 2) == [6000, 6002, 6004]
    assert passive_port_share(range(6000, 6005), 1, 2) == [6001, 6003]
    with pytest.raises(ValueError, match="passive_ports has 1 ports for 2 worker processes"):
        passive_port_share([6000], 0, 2)
