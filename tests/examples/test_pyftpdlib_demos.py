"""The examples that redo pyftpdlib's demo programs: anti-flood, hashed passwords,
throttled, TLS, multi-thread and multi-process servers.

Each runs as a subprocess, serves ftplib and stops cleanly on a signal; the
ban and the rate limits are checked in-process on Trio's MockClock, with the
example's own handler class.
"""

from __future__ import annotations

import ftplib
import io
import os
import re
import signal
import ssl
import subprocess
from pathlib import Path

import pytest
import trio
import trio.testing

import trioftp
from trioftp.passwords import hash_password
from trioftp.servers import FTPServer
from trioftp.session.runner import InlineRunner

from ..support.examples import DATA, README, README_TEXT, example, load_example, round_trip
from ..support.ftpclient import FTPClient
from ..support.interop import download
from ..support.serverprocess import running
from ..support.tls_fixtures import client_context, write_tls_files


def test_anti_flood_ftpd_serves(share: Path) -> None:
    with running(example("anti_flood_ftpd.py", "0", str(share)), cwd=share) as server:
        assert server.line == f"anti_flood_ftpd: serving {share} at ftp://127.0.0.1:{server.port}/"
        round_trip(server, share)
        server.stop_cleanly(signal.SIGTERM)


async def test_anti_flood_ftpd_bans_then_lifts_the_ban(
    nursery: trio.Nursery, share: Path, mock_clock: trio.testing.MockClock
) -> None:
    handler = load_example("anti_flood_ftpd.py").make_handler(str(share), 5, 60)
    host, port = await nursery.start(trioftp.serve, handler, "127.0.0.1", 0)

    calm, _ = await FTPClient.connect(host, port)
    assert (await calm.login("user", "12345")).code == 230
    flood, _ = await FTPClient.connect(host, port)
    for _ in range(6):
        assert (await flood.cmd("NOOP")).code == 200
    mock_clock.jump(1)  # the once-a-second check
    with trio.fail_after(10):
        assert await flood.at_eof()
    assert handler.banned_ips == {"127.0.0.1"}
    assert (await calm.cmd("NOOP")).code == 200  # two commands: not banned, still served

    refused, reply = await FTPClient.connect(host, port)
    assert reply.first == "550 You are banned."
    with trio.fail_after(10):
        assert await refused.at_eof()

    mock_clock.jump(60)  # the ioloop's call_later lifts the ban
    await trio.testing.wait_all_tasks_blocked()
    assert handler.banned_ips == set()
    welcome, reply = await FTPClient.connect(host, port)
    assert reply.code == 220
    for client in (calm, flood, refused, welcome):
        await client.aclose()
    nursery.cancel_scope.cancel()


async def test_hashed_password_ftpd_refuses_wrong_passwords(
    nursery: trio.Nursery, share: Path, autojump_clock: trio.testing.MockClock
) -> None:
    users = {"alice": hash_password("correct horse")}
    handler = load_example("hashed_password_ftpd.py").make_handler(str(share), users)
    server = FTPServer(("127.0.0.1", 0), handler, runner=InlineRunner())
    host, port = await nursery.start(server.serve)
    for user, password in [("alice", "wrong"), ("nobody", "correct horse")]:
        client, _ = await FTPClient.connect(host, port)
        assert (await client.login(user, password)).first == "530 Authentication failed."
        await client.aclose()
    client, _ = await FTPClient.connect(host, port)
    assert (await client.login("alice", "correct horse")).code == 230
    await client.aclose()
    nursery.cancel_scope.cancel()


def test_hashed_password_ftpd_refuses_a_clear_text_password(tmp_path: Path) -> None:
    command = example("hashed_password_ftpd.py", "0", str(tmp_path), "--user", "alice:secret")
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "hashed_password_ftpd.py: error: --user alice: "
        "not a password hash this server understands (argon2id, bcrypt, scrypt)"
    )


def test_hashed_password_ftpd(share: Path) -> None:
    env = {**os.environ, "FTPD_PORT": "0", "FTPD_DIR": str(share)}
    with running(example("hashed_password_ftpd.py"), cwd=share, env=env) as server:
        assert server.line == (
            f"hashed_password_ftpd: serving {share} at ftp://127.0.0.1:{server.port}/"
        )
        round_trip(server, share)  # user/12345, hashed at start
        with server.ftp("anonymous", "guest@") as anonymous:
            assert download(anonymous, README) == README_TEXT
            with pytest.raises(ftplib.error_perm, match=r"^550 "):
                anonymous.storbinary("STOR nope", io.BytesIO(b"x"))
            anonymous.quit()
        stderr = server.stop_cleanly()
    assert "USER 'user' logged in." in stderr
    assert not (share / "nope").exists()


def test_throttled_ftpd_serves(share: Path) -> None:
    with running(
        example("throttled_ftpd.py", "0", str(share), "--rate", "10000000"), cwd=share
    ) as server:
        assert server.line.endswith(f":{server.port}/ (10000000 bytes/s)")
        round_trip(server, share)
        server.stop_cleanly()


async def test_throttled_ftpd_limits_both_ways(
    nursery: trio.Nursery, share: Path, autojump_clock: trio.testing.MockClock
) -> None:
    handler = load_example("throttled_ftpd.py").make_handler(str(share), 10_000)
    (share / "big.bin").write_bytes(DATA[:30_000])
    server = FTPServer(("127.0.0.1", 0), handler, runner=InlineRunner())
    host, port = await nursery.start(server.serve)
    client, _ = await FTPClient.connect(host, port)
    assert (await client.login("user", "12345")).code == 230
    assert (await client.cmd("TYPE I")).code == 200

    started = trio.current_time()
    data, reply = await client.retr("big.bin")
    assert (data, reply.code) == (DATA[:30_000], 226)
    # 30,000 bytes at 10,000 bytes/s: the last block waits for second 2 or later.
    assert 2 <= trio.current_time() - started < 4

    started = trio.current_time()
    assert (await client.stor("up.bin", DATA[:30_000])).code == 226
    assert 2 <= trio.current_time() - started < 4
    assert (share / "up.bin").read_bytes() == DATA[:30_000]
    await client.aclose()
    nursery.cancel_scope.cancel()


def test_tls_ftpd(share: Path, tmp_path: Path) -> None:
    files = write_tls_files(tmp_path / "tls")
    command = example(
        "tls_ftpd.py",
        "0",
        str(share),
        "--certfile",
        str(files.certfile),
        "--keyfile",
        str(files.keyfile),
    )
    with running(command, cwd=share) as server:
        assert server.line == f"tls_ftpd: serving {share} at ftp://127.0.0.1:{server.port}/"
        with server.ftp() as plain:
            with pytest.raises(ftplib.error_perm) as refused:
                plain.login("user", "12345")
            assert (
                str(refused.value) == "530 SSL/TLS required on the control channel (use AUTH TLS)."
            )
        ftps = ftplib.FTP_TLS(context=client_context(files), timeout=10)
        with ftps:
            ftps.connect(server.host, server.port)
            ftps.login("user", "12345")  # AUTH TLS first
            with pytest.raises(ftplib.error_perm) as clear_data:
                ftps.nlst()
            assert str(clear_data.value) == "522 SSL/TLS required on the data channel (use PROT P)."
            ftps.prot_p()
            ftps.storbinary("STOR up.bin", io.BytesIO(DATA))
            assert download(ftps, "up.bin") == DATA
            assert ftps.nlst() == [README, "up.bin"]
            ftps.quit()
        server.stop_cleanly()
    assert (share / "up.bin").read_bytes() == DATA


def test_tls_ftpd_self_signed(share: Path, tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    with running(example("tls_ftpd.py", "0", str(share)), cwd=share, env=env) as server:
        fingerprint = server.read_line()
        assert re.fullmatch(
            r"tls_ftpd: self-signed certificate, SHA-256 fingerprint [0-9A-F]{2}(:[0-9A-F]{2}){31}",
            fingerprint,
        ), fingerprint
        ftps = ftplib.FTP_TLS(context=ssl_unverified(), timeout=10)
        with ftps:
            ftps.connect(server.host, server.port)
            ftps.login("user", "12345")
            ftps.prot_p()
            assert download(ftps, README) == README_TEXT
            ftps.quit()
        server.stop_cleanly()
    assert (tmp_path / "config" / "trioftp" / "selfsigned-cert.pem").is_file()


def ssl_unverified() -> ssl.SSLContext:
    """A client context for a self-signed certificate (a real client would pin its fingerprint)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def test_multi_thread_ftpd(share: Path) -> None:
    with running(example("multi_thread_ftpd.py", "0", str(share)), cwd=share) as server:
        round_trip(server, share)
        stderr = server.stop_cleanly()
    (thread,) = re.findall(r"\[user\] user logged in, served by thread (.+)", stderr)
    assert thread != "MainThread"


def test_multi_proc_ftpd(share: Path) -> None:
    with running(example("multi_proc_ftpd.py", "0", str(share)), cwd=share) as server:
        server_pid = int(re.fullmatch(r".* \(pid (\d+)\)", server.line).group(1))
        assert server_pid == server.proc.pid
        round_trip(server, share)
        round_trip(server, share)
        stderr = server.stop_cleanly()
    session_pids = {
        int(pid) for pid in re.findall(r"user logged in, served by process (\d+)", stderr)
    }
    assert len(session_pids) == 2  # a process per session
    assert server_pid not in session_pids
