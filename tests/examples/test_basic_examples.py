"""basic_ftpd.py and trio_ftpd.py: they serve, and stop cleanly on a signal."""

from __future__ import annotations

import ftplib
import io
import os
import re
import signal
from pathlib import Path

import pytest

from ..support.examples import DATA, example, round_trip
from ..support.interop import assert_disconnected, download
from ..support.serverprocess import running


def test_basic_ftpd(share: Path) -> None:
    with running(example("basic_ftpd.py", "0", str(share)), cwd=share) as server:
        assert server.line == f"basic_ftpd: serving {share} at ftp://127.0.0.1:{server.port}/"
        with server.ftp() as ftp:
            assert ftp.getwelcome() == "220 trioftp basic_ftpd ready."
            ftp.login("user", "12345")
            # passive_ports = range(60000, 65535)
            _, port = ftplib.parse227(ftp.sendcmd("PASV"))
            assert 60000 <= port < 65535
            ftp.quit()
        round_trip(server, share)
        with server.ftp("anonymous", "guest@") as anonymous:
            assert download(anonymous, "readme.txt") == b"served by an example\n"
            with pytest.raises(ftplib.error_perm, match=r"^550 "):
                anonymous.storbinary("STOR nope", io.BytesIO(b"x"))
            anonymous.quit()
        stderr = server.stop_cleanly()
    assert "hello, user" in stderr
    assert f"received up.bin ({len(DATA)} bytes)" in stderr
    assert "received interrupt signal" in stderr
    assert not (share / "nope").exists()


def test_basic_ftpd_from_environment(share: Path, tmp_path: Path) -> None:
    env = {**os.environ, "FTPD_PORT": "0", "FTPD_DIR": str(share)}
    with running(example("basic_ftpd.py"), cwd=tmp_path, env=env) as server:
        assert f"serving {share} at" in server.line
        round_trip(server, share)
        server.stop_cleanly()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_trio_ftpd(share: Path, signum: int) -> None:
    with running(example("trio_ftpd.py", "0", str(share)), cwd=share) as server:
        assert server.line == f"trio_ftpd: serving {share} at ftp://127.0.0.1:{server.port}/"
        with server.ftp() as ftp:
            assert ftp.getwelcome() == "220 trioftp trio_ftpd ready."
        round_trip(server, share)
        # A client still connected when the signal comes is disconnected.
        with server.ftp("user", "12345") as idle:
            stderr = server.stop_cleanly(signum)
            assert_disconnected(idle)
    assert "upload finished: up.bin" in stderr
    assert f"{signal.Signals(signum).name} received, stopping" in stderr
    assert stderr.rstrip().endswith("server stopped")
    assert len(re.findall(r"FTP session closed \(disconnect\)\.", stderr)) == 3
