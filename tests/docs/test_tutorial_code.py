"""The tutorial's programs (``docs/tutorial/code/``) run and do what the tutorial says.

Each program is started as the tutorial starts it (with port 0 and a
directory of the test's), used by ftplib, and stopped with Ctrl-C (SIGINT);
the command lines the tutorial shows are run the same way.
"""

from __future__ import annotations

import ftplib
import hashlib
import io
import os
import re
import socket
import ssl
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

import trioftp

from ..support.interop import download
from ..support.serverprocess import ServerProcess, make_share, running, trioftp_command
from ..support.tls_fixtures import client_context, write_tls_files

CODE = Path(__file__).resolve().parents[2] / "docs" / "tutorial" / "code"
HELLO = b"Hello, tutorial!\n"
DATA = bytes(range(256)) * 1000


def program(name: str, *args: str) -> list[str]:
    script = CODE / name
    assert script.is_file(), f"missing tutorial program {script}"
    return [sys.executable, str(script), *args]


@pytest.fixture
def share(tmp_path: Path) -> Path:
    return make_share(tmp_path, "hello.txt", HELLO)


def login(server: ServerProcess, user: str, password: str) -> ftplib.FTP:
    ftp = server.ftp()
    assert ftp.login(user, password).startswith("230")
    return ftp


def upload(ftp: ftplib.FTP, name: str, data: bytes) -> str:
    return ftp.storbinary(f"STOR {name}", io.BytesIO(data))


def test_command_line_serves_a_directory_read_only(share: Path) -> None:
    # tutorial/command-line.md: "trioftp -d /srv/ftp"
    with running(trioftp_command("-d", str(share)), cwd=share) as server:
        assert server.line == (
            f"trioftp {trioftp.__version__}: serving {share} (read-only) to anonymous users "
            f"at ftp://127.0.0.1:{server.port}/ - Ctrl-C to stop"
        )
        ftp = login(server, "anonymous", "guest@")
        assert download(ftp, "hello.txt") == HELLO
        with pytest.raises(ftplib.error_perm, match=r"^550 Not enough privileges\.$"):
            upload(ftp, "new.bin", DATA)
        ftp.quit()
        server.stop_cleanly()


def test_command_line_one_user_read_write(share: Path) -> None:
    # tutorial/command-line.md: "trioftp -d /srv/ftp -w -u alice -P secret"
    args = ("-d", str(share), "-w", "-u", "alice", "-P", "secret")
    with running(trioftp_command(*args), cwd=share) as server:
        with server.ftp() as anonymous, pytest.raises(ftplib.error_perm, match=r"^530 "):
            anonymous.login("anonymous", "guest@")
        ftp = login(server, "alice", "secret")
        assert upload(ftp, "new.bin", DATA) == "226 Transfer complete."
        ftp.quit()
        server.stop_cleanly()
    assert (share / "new.bin").read_bytes() == DATA


def test_users_and_permissions(share: Path) -> None:
    with running(program("users.py", "0", str(share)), cwd=share) as server:
        assert server.line == f"serving {share} on ftp://127.0.0.1:{server.port}/"
        with server.ftp() as alice:
            assert alice.getwelcome() == "220 Users and permissions tutorial."
            assert alice.login("alice", "wonderland") == "230 Hello, Alice."
            assert upload(alice, "alice.bin", DATA) == "226 Transfer complete."
            alice.quit()
        with login(server, "bob", "builder") as bob:
            assert download(bob, "alice.bin") == DATA
            with pytest.raises(ftplib.error_perm, match=r"^550 Not enough privileges\.$"):
                upload(bob, "bob.bin", b"refused")
            assert upload(bob, "incoming/bob.bin", b"accepted") == "226 Transfer complete."
            with pytest.raises(ftplib.error_perm, match=r"^550 Not enough privileges\.$"):
                bob.delete("incoming/bob.bin")
            bob.quit()
        with login(server, "anonymous", "guest@") as anonymous:
            assert download(anonymous, "hello.txt") == HELLO
            with pytest.raises(ftplib.error_perm, match=r"^550 Not enough privileges\.$"):
                upload(anonymous, "anonymous.bin", b"refused")
            anonymous.quit()
        server.stop_cleanly()
    assert (share / "incoming" / "bob.bin").read_bytes() == b"accepted"
    assert not (share / "bob.bin").exists()
    assert not (share / "anonymous.bin").exists()


def test_ftps_with_a_certificate(share: Path, tmp_path: Path) -> None:
    files = write_tls_files(tmp_path / "tls")
    argv = program("ftps.py", "0", str(share), str(files.certfile), str(files.keyfile))
    with running(argv, cwd=share) as server:
        with (
            server.ftp() as plain,
            pytest.raises(
                ftplib.error_perm,
                match=r"^530 SSL/TLS required on the control channel \(use AUTH TLS\)\.$",
            ),
        ):
            plain.login("alice", "wonderland")
        ftps = ftplib.FTP_TLS(context=client_context(files), timeout=10)
        ftps.connect(server.host, server.port)
        assert ftps.auth() == "234 AUTH TLS successful."
        assert ftps.login("alice", "wonderland") == "230 Login successful."
        with pytest.raises(
            ftplib.error_perm, match=r"^522 SSL/TLS required on the data channel \(use PROT P\)\.$"
        ):
            ftps.nlst()
        assert ftps.prot_p() == "200 Protection set to Private."
        assert download(ftps, "hello.txt") == HELLO
        assert upload(ftps, "secret.bin", DATA) == "226 Transfer complete."
        ftps.quit()
        server.stop_cleanly()
    assert (share / "secret.bin").read_bytes() == DATA


def test_ftps_with_a_self_signed_certificate(share: Path, tmp_path: Path) -> None:
    # tutorial/ftps.md: "trioftp --tls -w -u alice -P secret"
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    args = ("-d", str(share), "--tls", "-w", "-u", "alice", "-P", "secret")
    with running(trioftp_command(*args), cwd=share, env=env) as server:
        certfile = tmp_path / "config" / "trioftp" / "selfsigned-cert.pem"
        assert server.read_line() == f"TLS: self-signed certificate {certfile}"
        assert server.read_line().startswith("TLS: SHA-256 fingerprint ")
        # The client trusts exactly that certificate (it is its own authority).
        context = ssl.create_default_context(cafile=str(certfile))
        context.check_hostname = False
        ftps = ftplib.FTP_TLS(context=context, timeout=10)
        ftps.connect(server.host, server.port)
        ftps.login("alice", "secret")  # ftplib sends AUTH TLS first
        assert ftps.prot_p() == "200 Protection set to Private."
        assert download(ftps, "hello.txt") == HELLO
        ftps.quit()
        server.stop_cleanly()


def test_limits(share: Path) -> None:
    with running(program("limits.py", "0", str(share)), cwd=share) as server:
        first, second = server.ftp(), server.ftp()
        with pytest.raises(
            ftplib.error_temp, match=r"^421 Too many connections from the same IP address\.$"
        ):
            server.ftp()
        assert first.login("alice", "wonderland") == "230 Login successful."
        assert download(first, "hello.txt") == HELLO  # throttled, whole
        with pytest.raises(ftplib.error_perm, match=r"^530 Authentication failed\.$"):
            second.login("alice", "wrong")
        with pytest.raises(
            ftplib.error_perm, match=r"^530 Authentication failed\. Disconnecting\.$"
        ):
            second.login("alice", "wrong again")
        first.quit()
        server.stop_cleanly()


def test_custom_command_and_callbacks(share: Path) -> None:
    with running(program("commands.py", "0", str(share)), cwd=share) as server:
        ftp = login(server, "alice", "wonderland")
        assert server.read_line() == "login: alice from 127.0.0.1"
        md5 = hashlib.md5(HELLO).hexdigest()
        assert ftp.sendcmd("SITE MD5 hello.txt") == f"200 {md5}"
        assert ftp.sendcmd("HELP SITE MD5") == "214 Syntax: SITE <SP> MD5 <SP> path (file's MD5)."
        with pytest.raises(ftplib.error_perm, match=r"^550 No such file or directory\.$"):
            ftp.sendcmd("SITE MD5 ../../etc/passwd")  # jailed in the home
        upload(ftp, "up.bin", DATA)
        assert server.read_line() == f"received: /up.bin md5={hashlib.md5(DATA).hexdigest()}"
        ftp.quit()
        server.stop_cleanly()


def test_server_in_a_nursery(share: Path) -> None:
    with running(program("nursery.py", "0", str(share)), cwd=share) as server:
        assert server.line == f"serving {share} on ftp://127.0.0.1:{server.port}/"
        ftp = login(server, "alice", "wonderland")
        upload(ftp, "first.bin", DATA)
        assert server.read_line() == "processing /first.bin"
        ftp.quit()
        server.stop_cleanly()
        assert server.rest_of_stdout() == "stopping on SIGINT\n"


@pytest.mark.parametrize("model", ["async", "multi-thread", "multi-proc"])
def test_concurrency_models(share: Path, model: str) -> None:
    env = {**os.environ, "FTP_ROOT": str(share)}
    with running(program("models.py", model, "0"), cwd=share, env=env) as server:
        assert server.line == f"serving ({model}) on ftp://127.0.0.1:{server.port}/"
        with login(server, "alice", "wonderland") as ftp:
            assert download(ftp, "hello.txt") == HELLO
            ftp.quit()
        server.stop_cleanly()


def test_object_storage_in_memory(tmp_path: Path) -> None:
    with running(program("storage.py", "0"), cwd=tmp_path) as server:
        assert server.line == f"serving memory on ftp://127.0.0.1:{server.port}/"
        ftp = login(server, "alice", "wonderland")
        assert download(ftp, "welcome.txt") == b"Hello from memory.\n"
        assert upload(ftp, "stored.bin", DATA) == "226 Transfer complete."
        assert download(ftp, "stored.bin") == DATA
        assert ftp.nlst() == ["stored.bin", "welcome.txt"]
        ftp.quit()
        server.stop_cleanly()
    assert list(tmp_path.iterdir()) == []  # nothing written to the disk


def test_object_storage_from_a_url(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "from-url.txt").write_bytes(HELLO)
    with running(program("storage.py", "0", f"file://{store}"), cwd=tmp_path) as server:
        ftp = login(server, "alice", "wonderland")
        assert download(ftp, "from-url.txt") == HELLO
        upload(ftp, "stored.bin", DATA)
        ftp.quit()
        server.stop_cleanly()
    assert (store / "stored.bin").read_bytes() == DATA


def test_virtual_hosts(tmp_path: Path) -> None:
    root = tmp_path / "sites"
    with running(program("vhosts.py", "0", str(root)), cwd=tmp_path) as server:
        with server.ftp() as ftp:
            assert ftp.sendcmd("HOST a.example") == "220 Welcome to A."
            assert ftp.login("alice", "wonderland") == "230 Login successful."
            assert upload(ftp, "a.txt", b"site A") == "226 Transfer complete."
            ftp.quit()
        with server.ftp() as ftp:
            ftp.sendcmd("HOST ftp.b.example")
            with pytest.raises(ftplib.error_perm, match=r"^530 Authentication failed\. "):
                ftp.login("alice", "wonderland")  # A's password; B allows one try
        with server.ftp() as ftp:
            ftp.sendcmd("HOST ftp.b.example")
            assert ftp.login("alice", "another password") == "230 Login successful."
            assert ftp.nlst() == []
            with pytest.raises(ftplib.error_perm, match=r"^550 Not enough privileges\.$"):
                upload(ftp, "b.txt", b"refused")
            ftp.quit()
        with server.ftp() as ftp:
            with pytest.raises(ftplib.error_perm, match=r"^504 Unknown host 'c\.example'\.$"):
                ftp.sendcmd("HOST c.example")
            assert ftp.login() == "230 Login successful."  # the default site's anonymous
            ftp.quit()
        server.stop_cleanly()
    assert (root / "a" / "a.txt").read_bytes() == b"site A"
    assert list((root / "b").iterdir()) == []


def wait_for_partial(directory: Path) -> int:
    """Wait until the server has written part of an upload to its partial file; its size."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        sizes = [p.stat().st_size for p in directory.glob(".trioftp-partial.*")]
        if sizes and sizes[0] > 0:
            return sizes[0]
        time.sleep(0.01)
    raise AssertionError(f"no partial file written in {directory}")


def test_hashes_and_atomic_uploads(share: Path) -> None:
    new = bytes(range(256)) * 16384  # 4 MiB
    with running(program("uploads.py", "0", str(share)), cwd=share) as server:
        ftp = login(server, "alice", "wonderland")
        upload(ftp, "report.csv", b"old\n")
        # An upload cut short (its data connection reset midway) ...
        data = ftp.transfercmd("STOR report.csv")
        data.sendall(new[: len(new) // 2])
        written = wait_for_partial(share)
        data.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        data.close()
        with pytest.raises(ftplib.error_temp) as reply:
            ftp.voidresp()
        kept = re.fullmatch(
            r"426 Connection closed; transfer aborted, "
            r"partial file kept \((\d+) bytes received\)\.",
            str(reply.value),
        )
        assert kept is not None, reply.value
        received = int(kept.group(1))
        assert written <= received <= len(new) // 2
        # ... leaves the old version in place, and the partial file hidden.
        assert (share / "report.csv").read_bytes() == b"old\n"
        assert sorted(ftp.nlst()) == ["hello.txt", "report.csv"]
        # The client resumes where the server stopped.
        ftp.voidcmd("TYPE I")
        assert ftp.size("report.csv") == received
        ftp.storbinary("STOR report.csv", io.BytesIO(new[received:]), rest=received)
        assert (share / "report.csv").read_bytes() == new
        assert sorted(os.listdir(share)) == ["hello.txt", "report.csv"]
        # Hashes: SHA-256 by default, others chosen with OPTS HASH.
        sha256 = hashlib.sha256(new).hexdigest()
        assert ftp.sendcmd("HASH report.csv") == f"213 SHA-256 0-4194303 {sha256} report.csv"
        assert ftp.sendcmd("OPTS HASH MD5") == "200 MD5"
        md5 = hashlib.md5(new).hexdigest()
        assert ftp.sendcmd("HASH report.csv") == f"213 MD5 0-4194303 {md5} report.csv"
        assert ftp.sendcmd("XSHA256 report.csv") == f"213 {sha256}"
        ftp.quit()
        server.stop_cleanly()


def test_command_line_users_file(share: Path, tmp_path: Path) -> None:
    # tutorial/command-line.md: "trioftp passwd --users-file users.toml --user alice
    # --home /srv/ftp/alice --perm elradfmw", then "trioftp --users-file users.toml"
    users = tmp_path / "users.toml"
    passwd = ["passwd", "--users-file", str(users), "--user", "alice", "--home", str(share)]
    added = subprocess.run(
        [sys.executable, "-m", "trioftp", *passwd, "--perm", "elradfmw", "--stdin"],
        input="wonderland\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    assert 'password = "$argon2id$' in users.read_text()
    with running(trioftp_command("--users-file", str(users)), cwd=share) as server:
        with (
            server.ftp() as wrong,
            pytest.raises(ftplib.error_perm, match=r"^530 Authentication failed\.$"),
        ):
            wrong.login("alice", "not the password")
        ftp = login(server, "alice", "wonderland")
        assert upload(ftp, "new.bin", DATA) == "226 Transfer complete."
        ftp.quit()
        server.stop_cleanly()
    assert (share / "new.bin").read_bytes() == DATA
