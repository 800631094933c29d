"""``trioftp --concurrency async|pre-fork|multi-thread|multi-proc`` and ``--workers``."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ..support.interop import download
from ..support.serverprocess import running, trioftp_command


@pytest.mark.parametrize(
    ("options", "model_line"),
    [
        ([], None),
        (["--concurrency", "async"], None),
        (["--concurrency", "pre-fork", "--workers", "2"], "started 2 worker processes"),
        (["--concurrency", "multi-thread"], None),
        (["--concurrency", "multi-proc"], None),
    ],
)
def test_each_concurrency_model_serves_login_and_list(
    share: Path, options: list[str], model_line: str | None
) -> None:
    with running(trioftp_command(*options), cwd=share) as server:
        with server.ftp("anonymous", "guest@example.com") as ftp:
            lines: list[str] = []
            ftp.retrlines("LIST", lines.append)
            assert len(lines) == 1
            assert lines[0].endswith(" hello.txt")
            assert download(ftp, "hello.txt") == b"Hello, FTP!\n"
            assert ftp.quit() == "221 Goodbye."
        stderr = server.stop_cleanly(signal.SIGINT)
    assert "[anonymous] USER 'anonymous' logged in." in stderr
    assert ">>> FTP server stopped <<<" in stderr
    if model_line is not None:
        assert model_line in stderr


def test_workers_needs_pre_fork(share: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trioftp", "--concurrency", "multi-thread", "--workers", "2"],
        cwd=share,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "--workers needs --concurrency pre-fork" in result.stderr
