"""The ``trioftp`` command's users, password and limit options, as a real subprocess."""

from __future__ import annotations

import ftplib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ..support.serverprocess import ServerProcess, running, trioftp_command
from ..support.users import user_table, users_file
from .test_cli import run


def wait_for_log(server: ServerProcess, text: str, timeout: float = 10) -> str:
    """Wait until the server's stderr holds *text* (the server acts on its own time)."""
    deadline = time.monotonic() + timeout
    while text not in (stderr := server.stderr()):
        if time.monotonic() > deadline:
            pytest.fail(f"{text!r} not logged:\n{stderr}")
        time.sleep(0.02)
    return stderr


def test_users_file_and_reload_on_sighup(share: Path, tmp_path: Path) -> None:
    path = users_file(tmp_path / "users.toml", user_table("alice", share, "one"))
    with running(trioftp_command("--users-file", str(path)), cwd=share) as server:
        assert f"to the users of {path} at ftp://" in server.line
        with server.ftp("alice", "one") as first:
            users_file(path, user_table("alice", share, "two"))
            server.proc.send_signal(signal.SIGHUP)
            wait_for_log(server, f"users file {path} reloaded: 1 users")
            # The open session goes on; new logins use the new file.
            assert first.voidcmd("NOOP") == "200 I successfully did nothing."
            with pytest.raises(ftplib.error_perm, match=r"^530 Authentication failed\.$"):
                server.ftp("alice", "one")
            server.ftp("alice", "two").quit()
            # A broken file is refused and the users stay.
            path.write_text("[users.alice\n")
            server.proc.send_signal(signal.SIGHUP)
            stderr = wait_for_log(server, f"users file {path} not reloaded, keeping the 1 users")
            assert "not valid TOML: " in stderr
            server.ftp("alice", "two").quit()
            first.quit()
        stderr = server.stop_cleanly()
    assert "Traceback" not in stderr


def test_password_file_and_environment(share: Path, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-file\n")
    with running(trioftp_command("-u", "bob", "--password-file", str(secret)), cwd=share) as server:
        server.ftp("bob", "from-file").quit()
        server.stop_cleanly()
    env = {**os.environ, "TRIOFTP_PASSWORD": "from-env"}
    with running(trioftp_command("-u", "bob"), cwd=share, env=env) as server:
        server.ftp("bob", "from-env").quit()
        # The password is not on the command line.
        assert not any("from-env" in arg for arg in server.argv)
        server.stop_cleanly()
    # Without -u the variable changes nothing: anonymous users are served.
    with running(trioftp_command(), cwd=share, env=env) as server:
        assert "to anonymous users" in server.line
        server.ftp("anonymous", "x@y").quit()
        server.stop_cleanly()


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--users-file", "missing.toml"], "can't read users file 'missing.toml': "),
        (["--users-file", "users.toml", "-u", "x", "-P", "y"], "--users-file and -u/--username"),
        (["-u", "x", "--password-file", "missing"], "can't read --password-file: "),
        (["--password-file", "users.toml"], "--password-file needs -u/--username"),
        (
            ["--max-download-rate", "-1"],
            "argument --max-download-rate: invalid number '-1' (expected 0 or more)",
        ),
        (
            ["--ban-time", "0"],
            "argument --ban-time: invalid number of seconds '0' (expected more than 0)",
        ),
        (["--ban-after-failures", "3", "--ban-allow", "nonsense"], "--ban-allow: "),
    ],
)
def test_bad_options_are_one_line_errors(share: Path, args: list[str], error: str) -> None:
    users_file(share / "users.toml", user_table("alice", share))
    result = run(*args, cwd=share)
    assert result.returncode == 2
    assert f"trioftp: error: {error}" in result.stderr
    assert "Traceback" not in result.stderr


def test_bans_from_the_command_line(share: Path) -> None:
    args = ["-u", "bob", "-P", "pw", "--ban-after-failures", "1", "--ban-time", "600"]
    args += ["--ban-max-commands", "1000", "--ban-allow", "10.0.0.0/8", "--ban-allow", "::1"]
    with running(trioftp_command(*args), cwd=share) as server:
        with pytest.raises(ftplib.error_perm, match="530"):
            server.ftp("bob", "wrong")
        ftp = ftplib.FTP(timeout=10)
        with pytest.raises(ftplib.error_temp) as refused:
            ftp.connect(server.host, server.port)
        assert str(refused.value) == (
            "421 Service not available: your address is temporarily banned."
        )
        stderr = server.stop_cleanly()
    assert "127.0.0.1 banned for 600 seconds: failed logins: 1 in 600 seconds" in stderr
    assert (
        "bans: 600 seconds after 1 failed logins or 1000 commands within 600 seconds "
        "(never banned: 10.0.0.0/8, ::1/128)"
    ) in stderr


def test_server_wide_rates_from_the_command_line(share: Path) -> None:
    args = ["--max-download-rate", "1000000", "--max-upload-rate", "0"]
    with running(trioftp_command(*args), cwd=share) as server:
        with server.ftp("anonymous", "x@y") as ftp:
            assert ftp.nlst() == ["hello.txt"]
            ftp.quit()
        stderr = server.stop_cleanly()
    assert (
        "bandwidth for all sessions together: downloads 1000000 bytes/s, uploads no limit"
    ) in stderr


def test_quota_with_curl(share: Path, tmp_path: Path, curl_binary: str) -> None:
    text = user_table("q", share, "pw", perm='"elrw"') + "[users.q.limits]\nquota_bytes = 1000\n"
    path = users_file(tmp_path / "users.toml", text)
    upload = tmp_path / "upload.bin"
    upload.write_bytes(bytes(range(256)) * 6)  # 1536 bytes
    with running(trioftp_command("--users-file", str(path)), cwd=share) as server:
        url = f"ftp://q:pw@127.0.0.1:{server.port}/"
        # hello.txt (12 bytes) is counted at login: 988 bytes of the upload fit.
        first = subprocess.run(
            [curl_binary, "-sS", "-T", str(upload), url + "up.bin"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert (first.returncode, first.stderr) == (70, "curl: (70) Exceeded storage allocation\n")
        assert (share / "up.bin").read_bytes() == upload.read_bytes()[:988]
        second = subprocess.run(
            [curl_binary, "-sS", "-T", str(upload), url + "again.bin"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert (second.returncode, second.stderr) == (25, "curl: (25) Failed FTP upload: 552\n")
        stderr = server.stop_cleanly()
    assert "[q] STOR /up.bin completed=0 bytes=1536 seconds=" in stderr
