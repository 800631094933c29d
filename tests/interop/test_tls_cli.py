"""The ``trioftp`` command's FTPS options, run as a real subprocess.

Like ``test_cli``: every server runs with ``-p 0`` and the test reads the
address from the line it prints (and, with a self-signed certificate, the two
``TLS:`` lines after it) with a deadline. ``XDG_CONFIG_HOME`` points into the
test's directory, so the self-signed certificate is made there. Clients are
ftplib's ``FTP_TLS``, a bare ``ssl`` socket and ``curl``.
"""

from __future__ import annotations

import ftplib
import hashlib
import io
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

import trioftp

from ..support.interop import assert_shut_down, download, run_curl
from ..support.serverprocess import ServerProcess, make_share, running, trioftp_command
from ..support.tls_fixtures import TLSFiles, client_context, write_tls_files

FINGERPRINT = re.compile(r"^TLS: SHA-256 fingerprint ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})$")
HELLO = b"Hello, FTPS!\n"


@contextmanager
def serving(args: Sequence[str], cwd: Path, config_home: Path) -> Iterator[ServerProcess]:
    """``python -m trioftp -p 0 ARGS`` with its own ``XDG_CONFIG_HOME``."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(config_home)}
    with running(trioftp_command(*args), cwd=cwd, env=env) as server:
        yield server


@pytest.fixture
def share(tmp_path: Path) -> Path:
    """The directory to serve, holding one file."""
    return make_share(tmp_path, "hello.txt", HELLO)


@pytest.fixture
def config_home(tmp_path: Path) -> Path:
    """The server's ``XDG_CONFIG_HOME`` (created by the server when it needs it)."""
    return tmp_path / "config"


@pytest.fixture
def tls_files(tmp_path: Path) -> TLSFiles:
    return write_tls_files(tmp_path / "tls")


def cert_options(files: TLSFiles) -> list[str]:
    return ["--certfile", str(files.certfile), "--keyfile", str(files.keyfile)]


def ftps(server: ServerProcess, context: ssl.SSLContext) -> ftplib.FTP_TLS:
    """ftplib over AUTH TLS, not logged in yet."""
    ftp = ftplib.FTP_TLS(context=context, timeout=10)
    ftp.connect(server.host, server.port)
    return ftp


def presented_fingerprint(server: ServerProcess) -> str:
    """SHA-256 of the certificate the server presents after AUTH TLS, as ``AB:CD:...``."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((server.host, server.port), timeout=10) as raw:
        lines = raw.makefile("rb")
        assert lines.readline() == f"220 trioftp {trioftp.__version__} ready.\r\n".encode()
        raw.sendall(b"AUTH TLS\r\n")
        assert lines.readline() == b"234 AUTH TLS successful.\r\n"
        with context.wrap_socket(raw, server_hostname=server.host) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return ":".join(f"{byte:02X}" for byte in hashlib.sha256(der).digest())


def self_signed_lines(server: ServerProcess, config_home: Path) -> tuple[Path, str]:
    """Read and check the two ``TLS:`` lines; return the certificate path and fingerprint."""
    certfile = config_home / "trioftp" / "selfsigned-cert.pem"
    assert server.read_line() == f"TLS: self-signed certificate {certfile}"
    match = FINGERPRINT.match(server.read_line())
    assert match is not None
    return certfile, match.group(1)


# --- the self-signed certificate


def test_self_signed_certificate(
    share: Path, config_home: Path, tmp_path: Path, curl_binary: str
) -> None:
    with serving(["--tls"], cwd=share, config_home=config_home) as server:
        assert server.line.endswith(
            f"ftp://127.0.0.1:{server.port}/ (FTPS: AUTH TLS) - Ctrl-C to stop"
        )
        certfile, fingerprint = self_signed_lines(server, config_home)
        # The fingerprint is the one of the certificate the server presents...
        assert presented_fingerprint(server) == fingerprint
        # ... and of the file it printed.
        der = ssl.PEM_cert_to_DER_cert(certfile.read_text())
        assert ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest()) == fingerprint
        server.stop_cleanly()
        rest = server.rest_of_stdout()
    assert rest == ""
    keyfile = config_home / "trioftp" / "selfsigned-key.pem"
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    pem = certfile.read_bytes()

    # A second run reuses the certificate; clients that trust it can verify the server.
    with serving(["--tls"], cwd=share, config_home=config_home) as server:
        assert self_signed_lines(server, config_home) == (certfile, fingerprint)
        assert presented_fingerprint(server) == fingerprint
        result = run_curl(
            curl_binary,
            "--ssl-reqd",
            "--cacert",
            str(certfile),
            f"ftp://127.0.0.1:{server.port}/hello.txt",
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout == HELLO
        assert 'subjectAltName: host "127.0.0.1" matched cert\'s IP address!' in (
            result.stderr.decode()
        )
        server.stop_cleanly()
    assert certfile.read_bytes() == pem


def test_implicit_with_self_signed_certificate(
    share: Path, config_home: Path, tmp_path: Path, curl_binary: str
) -> None:
    with serving(["--tls-implicit"], cwd=share, config_home=config_home) as server:
        assert server.scheme == "ftps"
        assert server.line.endswith(f"ftps://127.0.0.1:{server.port}/ - Ctrl-C to stop")
        certfile, _ = self_signed_lines(server, config_home)
        result = run_curl(
            curl_binary,
            "--cacert",
            str(certfile),
            f"ftps://127.0.0.1:{server.port}/hello.txt",
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout == HELLO
        server.stop_cleanly()


# --- certificate files and policies


def test_certfile_and_keyfile(share: Path, config_home: Path, tls_files: TLSFiles) -> None:
    args = [*cert_options(tls_files), "-u", "alice", "-P", "s3cret", "-w"]
    with serving(args, cwd=share, config_home=config_home) as server:
        assert server.line.endswith(
            f"ftp://127.0.0.1:{server.port}/ (FTPS: AUTH TLS) - Ctrl-C to stop"
        )
        with ftps(server, client_context(tls_files)) as ftp:
            ftp.login("alice", "s3cret")
            assert isinstance(ftp.sock, ssl.SSLSocket)
            assert ftp.sock.version() == "TLSv1.3"
            ftp.prot_p()
            data = os.urandom(300_000)
            ftp.storbinary("STOR up.bin", io.BytesIO(data))
            assert (share / "up.bin").read_bytes() == data
            assert download(ftp, "up.bin") == data
            assert download(ftp, "hello.txt") == HELLO
            ftp.quit()
        stderr = server.stop_cleanly()
        rest = server.rest_of_stdout()
    # No self-signed certificate was made or announced.
    assert rest == ""
    assert not config_home.exists()
    assert "USER 'alice' logged in." in stderr


def test_tls_control_required(share: Path, config_home: Path, tls_files: TLSFiles) -> None:
    args = [*cert_options(tls_files), "--tls-control-required"]
    with serving(args, cwd=share, config_home=config_home) as server:
        with ftplib.FTP(timeout=10) as plain:
            plain.connect(server.host, server.port)
            with pytest.raises(
                ftplib.error_perm,
                match=r"^530 SSL/TLS required on the control channel \(use AUTH TLS\)\.$",
            ):
                plain.sendcmd("USER anonymous")
        with ftps(server, client_context(tls_files)) as ftp:
            assert ftp.login("anonymous", "x@y") == "230 Login successful."
            ftp.prot_p()
            assert download(ftp, "hello.txt") == HELLO
            ftp.quit()
        server.stop_cleanly()


def test_tls_data_required(share: Path, config_home: Path, tls_files: TLSFiles) -> None:
    args = [*cert_options(tls_files), "--tls-data-required"]
    with serving(args, cwd=share, config_home=config_home) as server:
        with ftps(server, client_context(tls_files)) as ftp:
            ftp.login("anonymous", "x@y")
            with pytest.raises(
                ftplib.error_perm,
                match=r"^522 SSL/TLS required on the data channel \(use PROT P\)\.$",
            ):
                download(ftp, "hello.txt")
            ftp.prot_p()
            assert download(ftp, "hello.txt") == HELLO
            assert ftp.nlst() == ["hello.txt"]
            ftp.quit()
        server.stop_cleanly()


def test_tls_implicit(
    share: Path, config_home: Path, tls_files: TLSFiles, tmp_path: Path, curl_binary: str
) -> None:
    args = [*cert_options(tls_files), "--tls-implicit", "-w"]
    with serving(args, cwd=share, config_home=config_home) as server:
        assert server.scheme == "ftps"
        assert server.line.endswith(f"ftps://127.0.0.1:{server.port}/ - Ctrl-C to stop")
        base = f"ftps://127.0.0.1:{server.port}"
        result = run_curl(
            curl_binary, "--cacert", str(tls_files.ca), f"{base}/hello.txt", cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout == HELLO
        source = tmp_path / "source.bin"
        source.write_bytes(os.urandom(100_001))
        result = run_curl(
            curl_binary,
            "--cacert",
            str(tls_files.ca),
            "-T",
            str(source),
            f"{base}/up.bin",
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr.decode()
        assert (share / "up.bin").read_bytes() == source.read_bytes()
        # A plain FTP client gets no greeting: the server waits for a TLS handshake.
        with socket.create_connection((server.host, server.port), timeout=10) as raw:
            raw.sendall(b"USER anonymous\r\n")
            raw.settimeout(10)
            assert raw.recv(100) == b""
        server.stop_cleanly()
        rest = server.rest_of_stdout()
    assert rest == ""


@pytest.mark.parametrize("option", ["--certfile", "--keyfile"])
def test_missing_certificate_file(
    share: Path, config_home: Path, tls_files: TLSFiles, option: str
) -> None:
    missing = share / "missing.pem"
    args = {"--certfile": str(tls_files.certfile), "--keyfile": str(tls_files.keyfile)}
    args[option] = str(missing)
    argv = trioftp_command()
    for name, value in args.items():
        argv += [name, value]
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=share,
        env={**os.environ, "XDG_CONFIG_HOME": str(config_home)},
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("usage: trioftp ")
    assert result.stderr.endswith(f"trioftp: error: no such file: {str(missing)!r}\n")
    assert "Traceback" not in result.stderr
    assert not config_home.exists()


# --- stopping


def test_sigint_stops_tls_server_with_a_client(
    share: Path, config_home: Path, tls_files: TLSFiles
) -> None:
    with (
        serving(cert_options(tls_files), cwd=share, config_home=config_home) as server,
        ftps(server, client_context(tls_files)) as ftp,
    ):
        ftp.login("anonymous", "x@y")
        ftp.prot_p()
        assert download(ftp, "hello.txt") == HELLO
        stderr = server.stop_cleanly(signal.SIGINT)
        # The session was closed with the server.
        assert_shut_down(ftp, (EOFError, OSError))
    assert "received interrupt signal" in stderr
    assert "[anonymous] FTP session closed (disconnect)." in stderr
    assert ">>> FTP server stopped <<<" in stderr
