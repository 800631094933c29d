"""The ``trioftp`` command (``python -m trioftp``), run as a real subprocess.

Every server runs with ``-p 0``; the test learns the port from the line the
command prints on stdout (read with a deadline, never by sleeping), talks to
it with :mod:`ftplib`, then stops it with SIGINT or SIGTERM and checks the exit
status and stderr (the ``trioftp`` logger's lines, never a traceback).
"""

from __future__ import annotations

import ftplib
import hashlib
import io
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import trioftp

from ..support.interop import assert_read_only, assert_shut_down, download
from ..support.serverprocess import run_trioftp as run
from ..support.serverprocess import running, trioftp_command

PASV_REPLY = re.compile(r"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)")


# --- defaults


def test_default_serves_cwd_read_only_to_anonymous(share: Path) -> None:
    with running(trioftp_command(), cwd=share) as server:
        assert server.host == "127.0.0.1"
        assert f"serving {share} (read-only) to anonymous users" in server.line
        assert server.line.rstrip().endswith(f"ftp://127.0.0.1:{server.port}/ - Ctrl-C to stop")
        with server.ftp("anonymous", "guest@example.com") as ftp:
            assert ftp.getwelcome() == f"220 trioftp {trioftp.__version__} ready."
            assert download(ftp, "hello.txt") == b"Hello, FTP!\n"
            assert ftp.nlst() == ["hello.txt"]
            assert_read_only(ftp, existing="hello.txt", new="new.txt")
            ftp.quit()
        stderr = server.stop_cleanly()
    assert sorted(p.name for p in share.iterdir()) == ["hello.txt"]
    # Session log lines, through the "trioftp" logger at INFO level.
    assert re.search(r"127\.0\.0\.1:\d+-\[\] FTP session opened \(connect\)", stderr)
    assert "[anonymous] USER 'anonymous' logged in." in stderr
    assert re.search(r"\[anonymous\] RETR /hello\.txt completed=1 bytes=12 seconds=", stderr)
    assert "[anonymous] FTP session closed (disconnect)." in stderr
    assert f">>> starting FTP server on 127.0.0.1:{server.port}, pid={server.proc.pid} <<<" in (
        stderr
    )
    # Without -D, commands and replies are not logged.
    assert "<- USER" not in stderr


def test_write_allows_uploads(share: Path) -> None:
    with running(trioftp_command("-w"), cwd=share) as server:
        assert "(read-write) to anonymous users" in server.line
        with server.ftp("anonymous", "x@y") as ftp:
            ftp.storbinary("STOR up.bin", io.BytesIO(b"\x00\xffuploaded"))
            assert ftp.mkd("dir") == "/dir"
            ftp.rename("hello.txt", "dir/moved.txt")
            ftp.quit()
        server.stop_cleanly()
    assert (share / "up.bin").read_bytes() == b"\x00\xffuploaded"
    assert (share / "dir" / "moved.txt").read_bytes() == b"Hello, FTP!\n"


def test_hash_options(share: Path) -> None:
    data = os.urandom(100_000)
    with running(
        trioftp_command("-w", "--hash-uploads", "--hash-max-size", "50000"), cwd=share
    ) as server:
        with server.ftp("anonymous", "x@y") as ftp:
            ftp.storbinary("STOR up.bin", io.BytesIO(data))
            # Hashed while uploaded: answered although the file is over the size cap.
            expected = f"213 SHA-256 0-99999 {hashlib.sha256(data).hexdigest()} up.bin"
            assert ftp.sendcmd("HASH up.bin") == expected
            with pytest.raises(ftplib.error_perm, match=r"^556 up\.bin: Too large to hash here\.$"):
                ftp.sendcmd("XMD5 up.bin")
            hello = hashlib.md5(b"Hello, FTP!\n").hexdigest()
            assert ftp.sendcmd("XMD5 hello.txt") == f"213 {hello}"
            ftp.quit()
        server.stop_cleanly()


def test_atomic_uploads_option(share: Path) -> None:
    partial = share / ".trioftp-partial.0123"
    partial.write_bytes(b"a partial upload")
    os.utime(partial, (0, 0))  # decades old
    with running(
        trioftp_command("-w", "--atomic-uploads", "--atomic-upload-expiry", "0"), cwd=share
    ) as server:
        with server.ftp("anonymous", "x@y") as ftp:
            assert ftp.nlst() == ["hello.txt"]  # partial files are hidden
            ftp.storbinary("STOR up.bin", io.BytesIO(b"complete"))
            ftp.quit()
        server.stop_cleanly()
    assert (share / "up.bin").read_bytes() == b"complete"
    assert partial.read_bytes() == b"a partial upload"  # expiry 0: kept


def test_directory_option(share: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with running(trioftp_command("-d", str(share)), cwd=elsewhere) as server:
        assert f"serving {share} (read-only)" in server.line
        with server.ftp("anonymous", "x@y") as ftp:
            assert ftp.nlst() == ["hello.txt"]
            assert download(ftp, "hello.txt") == b"Hello, FTP!\n"
            ftp.quit()
        server.stop_cleanly()


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    result = run("-p", "0", "-d", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert "no such directory" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


# --- users


def test_user_and_password(share: Path) -> None:
    with running(trioftp_command("-u", "alice", "-P", "s3cret", "-w"), cwd=share) as server:
        assert "(read-write) to user 'alice'" in server.line
        with server.ftp() as ftp:
            # The failed login costs auth_failed_timeout (3 s) of real time.
            with pytest.raises(ftplib.error_perm, match=r"^530 Anonymous access not allowed\."):
                ftp.login("anonymous", "x@y")
            assert ftp.login("alice", "s3cret") == "230 Login successful."
            ftp.storbinary("STOR alice.txt", io.BytesIO(b"from alice"))
            assert download(ftp, "hello.txt") == b"Hello, FTP!\n"
            ftp.quit()
        stderr = server.stop_cleanly()
    assert (share / "alice.txt").read_bytes() == b"from alice"
    assert "USER 'anonymous' failed login." in stderr
    assert "USER 'alice' logged in." in stderr
    assert "s3cret" not in stderr


def test_user_is_read_only_without_write(share: Path) -> None:
    with running(trioftp_command("-u", "bob", "-P", "pw"), cwd=share) as server:
        with server.ftp("bob", "pw") as ftp:
            assert download(ftp, "hello.txt") == b"Hello, FTP!\n"
            with pytest.raises(ftplib.error_perm, match=r"^550 "):
                ftp.storbinary("STOR x", io.BytesIO(b"x"))
            ftp.quit()
        server.stop_cleanly()
    assert not (share / "x").exists()


def test_username_needs_password(share: Path) -> None:
    result = run("-p", "0", "-u", "alice", cwd=share)
    assert result.returncode == 2
    assert "-u/--username needs -P/--password" in result.stderr


def test_max_login_attempts(share: Path) -> None:
    argv = trioftp_command("-u", "alice", "-P", "pw", "--max-login-attempts", "1")
    with running(argv, cwd=share) as server:
        with server.ftp() as ftp:
            refused = r"^530 Authentication failed\. Disconnecting\.$"
            with pytest.raises(ftplib.error_perm, match=refused):
                ftp.login("alice", "wrong")
            # The server hangs up (a reset if it closed before reading NOOP).
            with pytest.raises((EOFError, ConnectionError)):
                ftp.sendcmd("NOOP")
        server.stop_cleanly()


# --- data connections


def test_passive_port_range(share: Path) -> None:
    with running(trioftp_command("-r", "60000-60010"), cwd=share) as server:
        with server.ftp("anonymous", "x@y") as ftp:
            for _ in range(3):
                reply = ftp.sendcmd("PASV")
                match = PASV_REPLY.search(reply)
                assert match is not None, reply
                numbers = [int(n) for n in match.groups()]
                assert numbers[:4] == [127, 0, 0, 1]
                assert 60000 <= numbers[4] * 256 + numbers[5] <= 60010
            assert download(ftp, "hello.txt") == b"Hello, FTP!\n"
            ftp.af = socket.AF_INET6  # make ftplib use EPSV
            epsv = ftp.sendcmd("EPSV")
            port = int(re.search(r"\(\|\|\|(\d+)\|\)", epsv).group(1))  # type: ignore[union-attr]
            assert 60000 <= port <= 60010
            ftp.quit()
        server.stop_cleanly()


def test_invalid_port_range(share: Path) -> None:
    result = run("-p", "0", "-r", "6000", cwd=share)
    assert result.returncode == 2
    assert "invalid port range" in result.stderr


def test_nat_address_in_pasv_reply(share: Path) -> None:
    with running(trioftp_command("-n", "10.1.2.3"), cwd=share) as server:
        with server.ftp("anonymous", "x@y") as ftp:
            reply = ftp.sendcmd("PASV")
            assert re.fullmatch(r"227 Entering Passive Mode \(10,1,2,3,\d+,\d+\)\.", reply)
            ftp.quit()
        server.stop_cleanly()


def test_disable_sendfile_still_downloads(share: Path) -> None:
    data = os.urandom(3 << 20)
    (share / "big.bin").write_bytes(data)
    with running(trioftp_command("--disable-sendfile"), cwd=share) as server:
        with server.ftp("anonymous", "x@y") as ftp:
            assert download(ftp, "big.bin") == data
            ftp.quit()
        server.stop_cleanly()


@pytest.mark.parametrize(
    ("flag", "port_command", "refusal", "permitted"),
    [
        # Another host's address is connected only for a transfer: 200.
        (
            "--permit-foreign-addresses",
            "PORT 10,1,2,3,200,1",
            r"^501 Rejected data connection",
            "200 Active data connection established.",
        ),
        # The client's own address is connected at once; nothing listens there.
        (
            "--permit-privileged-ports",
            "PORT 127,0,0,1,0,1",
            r"^501 .*privileged port 1\b",
            "425 Can't connect to specified address.",
        ),
    ],
)
@pytest.mark.parametrize("permit", [False, True])
def test_permit_options(
    share: Path, flag: str, port_command: str, refusal: str, permitted: str, permit: bool
) -> None:
    with running(trioftp_command(*([flag] if permit else [])), cwd=share) as server:
        with server.ftp("anonymous", "x@y") as ftp:
            if permit:
                ftp.putcmd(port_command)
                assert ftp.getmultiline() == permitted
            else:
                with pytest.raises(ftplib.error_perm, match=refusal):
                    ftp.sendcmd(port_command)
            ftp.quit()
        server.stop_cleanly()


# --- session settings


def test_banner(share: Path) -> None:
    with running(trioftp_command("--banner", "Welcome to the test server"), cwd=share) as server:
        with server.ftp() as ftp:
            assert ftp.getwelcome() == "220 Welcome to the test server"
            ftp.quit()
        server.stop_cleanly()


def test_idle_timeout(share: Path) -> None:
    with running(trioftp_command("--timeout", "0.5"), cwd=share) as server:
        with socket.create_connection((server.host, server.port), timeout=10) as sock:
            received = b""
            while chunk := sock.recv(4096):  # blocks until the server hangs up
                received += chunk
        assert (
            received
            == (
                f"220 trioftp {trioftp.__version__} ready.\r\n421 Control connection timed out.\r\n"
            ).encode()
        )
        server.stop_cleanly()


def test_use_localtime(share: Path) -> None:
    # 2020-01-02 22:00 UTC is already January 3rd five hours east of UTC.
    mtime = 1578002400
    os.utime(share / "hello.txt", (mtime, mtime))
    env = {**os.environ, "TZ": "XYZ-5"}
    dates = {}
    for args in ([], ["--use-localtime"]):
        with running(trioftp_command(*args), cwd=share, env=env) as server:
            with server.ftp("anonymous", "x@y") as ftp:
                lines: list[str] = []
                ftp.dir(lines.append)
                ftp.quit()
            server.stop_cleanly()
        assert len(lines) == 1
        dates[bool(args)] = lines[0].split()[5:8]
    assert dates == {False: ["Jan", "02", "2020"], True: ["Jan", "03", "2020"]}


def test_max_cons(share: Path) -> None:
    with running(trioftp_command("--max-cons", "1"), cwd=share) as server:
        with server.ftp() as first:
            with pytest.raises(ftplib.error_temp, match=r"^421 Too many connections\."):
                server.ftp()
            first.quit()
        server.stop_cleanly()


def test_max_cons_per_ip(share: Path) -> None:
    with running(trioftp_command("--max-cons-per-ip", "1"), cwd=share) as server:
        with server.ftp() as first:
            with pytest.raises(ftplib.error_temp, match=r"^421 .*same IP address"):
                server.ftp()
            first.quit()
        server.stop_cleanly()


def test_debug_logs_commands_and_replies(share: Path) -> None:
    with running(trioftp_command("-D"), cwd=share) as server:
        with server.ftp("anonymous", "secret-password@x") as ftp:
            ftp.voidcmd("NOOP")
            ftp.quit()
        stderr = server.stop_cleanly()
    assert "[] <- USER anonymous" in stderr
    assert "[anonymous] <- PASS ******" in stderr
    assert "secret-password" not in stderr
    assert "[anonymous] <- NOOP" in stderr
    assert "[anonymous] -> 200 I successfully did nothing." in stderr
    assert re.search(r"^\[D \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] ", stderr, re.MULTILINE)


def test_ipv6_interface(share: Path) -> None:
    with running(trioftp_command("-i", "::1"), cwd=share) as server:
        assert f"ftp://[::1]:{server.port}/" in server.line
        assert server.host == "::1"
        with server.ftp("anonymous", "x@y") as ftp:
            assert download(ftp, "hello.txt") == b"Hello, FTP!\n"
            ftp.quit()
        server.stop_cleanly()


# --- informational options


@pytest.mark.parametrize("option", ["-v", "--version"])
def test_version(option: str) -> None:
    result = run(option)
    assert result.returncode == 0
    assert result.stdout == f"trioftp {trioftp.__version__}\n"


def test_help_lists_every_option() -> None:
    result = run("--help")
    assert result.returncode == 0
    text = result.stdout
    assert text.startswith("usage: trioftp ")
    for short, long in [
        ("-i", "--interface"),
        ("-p", "--port"),
        ("-w", "--write"),
        ("-d", "--directory"),
        ("-n", "--nat-address"),
        ("-r", "--range"),
        ("-D", "--debug"),
        ("-u", "--username"),
        ("-P", "--password"),
        ("-v", "--version"),
    ]:
        assert re.search(rf"^  {short}( \S+)?, {long}\b", text, re.MULTILINE), (short, long)
    for long in [
        "--timeout",
        "--banner",
        "--permit-foreign-addresses",
        "--permit-privileged-ports",
        "--use-localtime",
        "--disable-sendfile",
        "--max-cons",
        "--max-cons-per-ip",
        "--max-login-attempts",
        "--hash-uploads",
        "--hash-max-size",
        "--atomic-uploads",
        "--atomic-upload-expiry",
        "--proxy-protocol-from",
    ]:
        assert re.search(rf"^  {long}\b", text, re.MULTILINE), long


# --- stopping


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly(share: Path, signum: int) -> None:
    with running(trioftp_command(), cwd=share) as server:
        with server.ftp("anonymous", "x@y") as ftp:
            assert download(ftp, "hello.txt") == b"Hello, FTP!\n"
            ftp.quit()
        stderr = server.stop_cleanly(signum)
    assert "received interrupt signal" in stderr
    assert ">>> FTP server stopped <<<" in stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_with_connected_client(share: Path, signum: int) -> None:
    with (
        running(trioftp_command(), cwd=share) as server,
        server.ftp("anonymous", "x@y") as ftp,
    ):
        assert ftp.pwd() == "/"
        stderr = server.stop_cleanly(signum)
        # The session was closed with the server.
        assert_shut_down(ftp)
    assert "[anonymous] FTP session closed (disconnect)." in stderr
    assert ">>> FTP server stopped <<<" in stderr


def test_port_in_use(share: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("-p", str(port), cwd=share)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"trioftp: can't listen on 127.0.0.1:{port}: Address already in use"
    )
    assert result.stdout == ""


# --- the console script


def test_console_script(share: Path) -> None:
    script = Path(sys.executable).parent / "trioftp"
    if not script.exists():
        pytest.fail(f"the trioftp console script is not installed at {script} (pip install -e .)")
    with running([str(script), "-p", "0"], cwd=share) as server:
        with server.ftp("anonymous", "x@y") as ftp:
            assert download(ftp, "hello.txt") == b"Hello, FTP!\n"
            ftp.quit()
        stderr = server.stop_cleanly()
    assert "FTP session opened" in stderr
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0
    assert result.stdout == f"trioftp {trioftp.__version__}\n"


# --- behind a load balancer


def test_proxy_protocol_from(share: Path) -> None:
    command = trioftp_command(
        "--proxy-protocol-from", "10.0.0.0/8,127.0.0.1", "--max-cons-per-ip", "1"
    )
    with running(command, cwd=share) as server:
        # The load balancer (127.0.0.1) relays two clients: each has its own per-IP count.
        with socket.create_connection((server.host, server.port), timeout=10) as first:
            first.sendall(b"PROXY TCP4 192.0.2.7 127.0.0.1 4000 21\r\n")
            assert first.recv(1024).startswith(b"220 ")
            with socket.create_connection((server.host, server.port), timeout=10) as second:
                second.sendall(b"PROXY TCP4 192.0.2.8 127.0.0.1 4001 21\r\n")
                assert second.recv(1024).startswith(b"220 ")
                second.sendall(b"QUIT\r\n")
                assert second.recv(1024) == b"221 Goodbye.\r\n"
            first.sendall(b"QUIT\r\n")
            assert first.recv(1024) == b"221 Goodbye.\r\n"
        stderr = server.stop_cleanly()
    assert "192.0.2.7:4000-[] FTP session opened (connect)" in stderr
    assert "192.0.2.8:4001-[] FTP session opened (connect)" in stderr


def test_invalid_proxy_protocol_from(share: Path) -> None:
    result = run("-p", "0", "--proxy-protocol-from", "127.0.0.1,10.0.0.1/8", cwd=share)
    assert result.returncode == 2
    assert "proxy_protocol_from: 10.0.0.1/8 has host bits set" in result.stderr


def test_encoding_decodes_commands(share: Path) -> None:
    # "MKD café" sent in Latin-1: the server decodes it as "café" and creates
    # that name (UTF-8 on disk); with the default UTF-8 it keeps the raw byte.
    with running(trioftp_command("-w", "--encoding", "latin-1"), cwd=share) as server:
        with ftplib.FTP(encoding="latin-1", timeout=10) as ftp:
            ftp.connect(server.host, server.port)
            ftp.login("anonymous", "x@y")
            assert ftp.mkd("café") == "/café"
            ftp.quit()
        server.stop_cleanly()
    assert (share / "café").is_dir()


def test_encoding_must_be_known(share: Path) -> None:
    result = run("--encoding", "no-such-codec", cwd=share)
    assert result.returncode == 2
    assert "argument --encoding: unknown encoding 'no-such-codec'" in result.stderr
