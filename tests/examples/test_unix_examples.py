"""The Unix-accounts examples (root only): unix_ftpd.py; unix_daemon.py start, status, stop."""

from __future__ import annotations

import ftplib
import io
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trio.testing

from trioftp.servers import FTPServer
from trioftp.session.runner import InlineRunner

from ..support.accounts import Account, create_account, needs_root, pam_service, remove_account
from ..support.examples import DATA, example, load_example
from ..support.ftpclient import FTPClient
from ..support.interop import download
from ..support.serverprocess import running

pytestmark = needs_root


@pytest.fixture(scope="module")
def account() -> Iterator[Account]:
    """A throw-away system user with a login shell."""
    made = create_account()
    yield made
    remove_account(made.name)


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    """A PAM service with no failure delay."""
    with pam_service() as name:
        yield name


def serve_account(host: str, port: int, account: Account, name: str) -> None:
    """Log in as *account*: start in its home, upload *name* as that user, read it back."""
    with ftplib.FTP(timeout=10) as ftp:
        ftp.connect(host, port)
        ftp.login(account.name, account.password)
        assert ftp.pwd() == str(account.home)
        ftp.storbinary(f"STOR {name}", io.BytesIO(DATA))
        assert download(ftp, name) == DATA
        ftp.quit()
    uploaded = account.home / name
    assert uploaded.read_bytes() == DATA
    assert (uploaded.stat().st_uid, uploaded.stat().st_gid) == (account.uid, account.gid)


def test_unix_ftpd(account: Account, service: str, tmp_path: Path) -> None:
    command = example("unix_ftpd.py", "0", "--pam-service", service)
    with running(command, cwd=tmp_path) as server:
        assert (
            server.line
            == f"unix_ftpd: serving the system's accounts at ftp://127.0.0.1:{server.port}/"
        )
        serve_account(server.host, server.port, account, "unix_ftpd.bin")
        server.stop_cleanly()


async def test_unix_ftpd_refuses_root(
    nursery: trio.Nursery, service: str, autojump_clock: trio.testing.MockClock
) -> None:
    handler = load_example("unix_ftpd.py").make_handler(service)
    server = FTPServer(("127.0.0.1", 0), handler, runner=InlineRunner())
    host, port = await nursery.start(server.serve)
    client, _ = await FTPClient.connect(host, port)
    assert (
        await client.login("root", "anything")
    ).first == "530 User root is not allowed to login."
    await client.aclose()
    nursery.cancel_scope.cancel()


def daemon(tmp_path: Path, service: str, *command: str) -> subprocess.CompletedProcess[str]:
    """``unix_daemon.py --port 0 --pidfile ... --logfile ... COMMAND`` to completion."""
    options = ["--port", "0", "--pam-service", service]
    options += ["--pidfile", str(tmp_path / "ftpd.pid"), "--logfile", str(tmp_path / "ftpd.log")]
    return subprocess.run(
        example("unix_daemon.py", *options, *command),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_unix_daemon_start_status_stop(account: Account, service: str, tmp_path: Path) -> None:
    pidfile = tmp_path / "ftpd.pid"
    stopped = daemon(tmp_path, service, "status")
    assert (stopped.returncode, stopped.stdout) == (3, "not running\n")

    started = daemon(tmp_path, service, "start")
    assert (started.returncode, started.stderr) == (0, ""), started.stderr
    match = re.fullmatch(r"started \(pid (\d+)\) at ftp://127\.0\.0\.1:(\d+)/\n", started.stdout)
    assert match is not None, started.stdout
    pid, port = int(match.group(1)), int(match.group(2))
    try:
        assert pidfile.read_text() == f"{pid}\n"
        status = daemon(tmp_path, service, "status")
        assert (status.returncode, status.stdout) == (0, f"running (pid {pid})\n")
        again = daemon(tmp_path, service, "start")
        assert (again.returncode, again.stderr) == (1, f"already running (pid {pid})\n")
        # Detached: in a session of its own that it does not lead (so it can never get
        # a controlling terminal), the log file as stdout and stderr.
        assert os.getsid(pid) not in (os.getsid(0), pid)
        assert os.readlink(f"/proc/{pid}/fd/1") == str(tmp_path / "ftpd.log")

        serve_account("127.0.0.1", port, account, "unix_daemon.bin")

        stop = daemon(tmp_path, service, "stop")
        assert (stop.returncode, stop.stdout) == (0, f"stopped (pid {pid})\n")
    finally:
        if pidfile.exists():
            os.kill(pid, 9)
    assert not pidfile.exists()
    after = daemon(tmp_path, service, "status")
    assert (after.returncode, after.stdout) == (3, "not running\n")
    log = (tmp_path / "ftpd.log").read_text()
    assert f"USER '{account.name}' logged in." in log
    assert "received interrupt signal" in log
    assert log.rstrip().endswith(">>> FTP server stopped <<<")
    assert "Traceback" not in log
