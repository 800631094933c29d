"""What the ``trioftp`` command refuses, and how: one line on stderr, never a traceback.

Options argparse can check (ports, timeouts, counts, ``-P`` without ``-u``)
end with argparse's usage and error line and exit status 2; what is only
found out while starting (a port it may not bind, a certificate directory
it cannot write, a file it cannot read) ends with exit status 1 and a single
``trioftp: ...`` line.

Some checks need an unprivileged process. When the tests run as root, the
server is started through ``setpriv`` with the capabilities that would let it
bypass the check removed from its bounding set (root then lacks them after
``exec``), so the check is real either way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from ..support.interop import download
from ..support.serverprocess import make_share, running, trioftp_command

HELLO = b"Hello, operator!\n"


@pytest.fixture
def share(tmp_path: Path) -> Path:
    return make_share(tmp_path, "hello.txt", HELLO)


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, argv: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m trioftp ARGS`` (after the wrapper *argv*) to completion."""
    return subprocess.run(
        [*argv, sys.executable, "-m", "trioftp", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
        check=False,
    )


def without_capabilities(*capabilities: str) -> list[str]:
    """A wrapper that drops *capabilities* when running as root (nothing to drop otherwise)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("setpriv (util-linux) is needed to run these checks as root")
    return [setpriv, "--bounding-set", ",".join(f"-{name}" for name in capabilities), "--"]


def usage_error(result: subprocess.CompletedProcess[str]) -> str:
    """The error line of an argparse refusal (checking that it is one)."""
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("usage: trioftp ")
    assert "Traceback" not in result.stderr
    return result.stderr.splitlines()[-1]


def start_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single line of a failed start (checking that it is one)."""
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- values argparse refuses (exit status 2)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("70000", "invalid port '70000' (expected 1-65535, or 0)"),
        ("65536", "invalid port '65536' (expected 1-65535, or 0)"),
        ("-1", "invalid port '-1' (expected 1-65535, or 0)"),
        ("ftp", "invalid port 'ftp'"),
    ],
)
def test_port_out_of_range(share: Path, value: str, error: str) -> None:
    result = run(f"--port={value}", cwd=share)
    assert usage_error(result) == f"trioftp: error: argument -p/--port: {error}"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("-5", "invalid number of seconds '-5' (expected 0 or more; 0: no timeout)"),
        ("nan", "invalid number of seconds 'nan' (expected 0 or more; 0: no timeout)"),
        ("inf", "invalid number of seconds 'inf' (expected 0 or more; 0: no timeout)"),
        ("soon", "invalid number of seconds 'soon'"),
    ],
)
def test_timeout_must_be_a_finite_non_negative_number(share: Path, value: str, error: str) -> None:
    result = run("-p", "0", f"--timeout={value}", cwd=share)
    assert usage_error(result) == f"trioftp: error: argument --timeout: {error}"


@pytest.mark.parametrize(
    ("option", "value", "least"),
    [
        ("--max-cons", "-1", 0),
        ("--max-cons-per-ip", "-3", 0),
        ("--max-login-attempts", "0", 1),
        ("--max-login-attempts", "-1", 1),
    ],
)
def test_limits_must_not_be_negative(share: Path, option: str, value: str, least: int) -> None:
    result = run("-p", "0", f"{option}={value}", cwd=share)
    assert usage_error(result) == (
        f"trioftp: error: argument {option}: invalid number '{value}' (expected {least} or more)"
    )


def test_password_needs_a_username(share: Path) -> None:
    result = run("-p", "0", "-P", "s3cret", cwd=share)
    assert usage_error(result) == "trioftp: error: -P/--password needs -u/--username"
    assert "s3cret" not in result.stderr


def test_zero_timeout_and_limits_mean_none(share: Path) -> None:
    argv = trioftp_command("--timeout", "0", "--max-cons", "0", "--max-cons-per-ip", "0")
    with running(argv, cwd=share) as server:
        with server.ftp("anonymous", "x@y") as ftp, server.ftp("anonymous", "x@y") as other:
            assert download(ftp, "hello.txt") == HELLO
            assert download(other, "hello.txt") == HELLO
            ftp.quit()
            other.quit()
        server.stop_cleanly()


# --- failures found while starting (exit status 1)


def test_privileged_port_gives_a_hint(share: Path) -> None:
    result = run("-p", "21", cwd=share, argv=without_capabilities("net_bind_service"))
    assert start_error(result) == (
        "trioftp: can't listen on 127.0.0.1:21: Permission denied (port 21 is privileged: "
        "run with CAP_NET_BIND_SERVICE, e.g. through the systemd unit in contrib/systemd, "
        "or use a port of 1024 or more)"
    )


def test_self_signed_certificate_in_a_read_only_home(share: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o555)
    env = {key: value for key, value in os.environ.items() if key != "XDG_CONFIG_HOME"}
    env["HOME"] = str(home)
    argv = without_capabilities("dac_override", "dac_read_search")
    result = run("-p", "0", "--tls", cwd=share, env=env, argv=argv)
    assert start_error(result) == (
        f"trioftp: can't keep the self-signed certificate in {home}/.config/trioftp: "
        "Permission denied (choose a writable directory with --cert-dir, or give --certfile)"
    )
    assert list(home.iterdir()) == []


def test_cert_dir_that_is_a_file(share: Path, tmp_path: Path) -> None:
    taken = tmp_path / "not-a-directory"
    taken.write_text("x")
    result = run("-p", "0", "--tls", "--cert-dir", str(taken), cwd=share)
    assert start_error(result) == (
        f"trioftp: can't keep the self-signed certificate in {taken}: Not a directory "
        "(choose a writable directory with --cert-dir, or give --certfile)"
    )


def test_cert_dir_keeps_the_certificate(share: Path, tmp_path: Path) -> None:
    cert_dir = tmp_path / "certs"
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    argv = trioftp_command("--tls", "--cert-dir", str(cert_dir))
    with running(argv, cwd=share, env=env) as server:
        assert server.read_line() == f"TLS: self-signed certificate {cert_dir}/selfsigned-cert.pem"
        assert server.read_line().startswith("TLS: SHA-256 fingerprint ")
        server.stop_cleanly()
    assert sorted(p.name for p in cert_dir.iterdir()) == [
        "selfsigned-cert.pem",
        "selfsigned-key.pem",
    ]
    assert not (tmp_path / "config").exists()


def test_certificate_file_that_is_not_a_certificate(share: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    result = run("-p", "0", "--certfile", str(bad), cwd=share)
    assert start_error(result) == f"trioftp: can't use the certificate {bad}: [SSL] PEM lib"


def test_unreadable_certificate_file(share: Path, tmp_path: Path) -> None:
    secret = tmp_path / "cert.pem"
    secret.write_text("unreadable\n")
    secret.chmod(0)
    argv = without_capabilities("dac_override", "dac_read_search")
    result = run("-p", "0", "--certfile", str(secret), cwd=share, argv=argv)
    assert start_error(result) == f"trioftp: can't use the certificate {secret}: Permission denied"


def test_unreadable_directory(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0)
    argv = without_capabilities("dac_override", "dac_read_search")
    result = run("-p", "0", "-d", str(closed), cwd=tmp_path, argv=argv)
    assert start_error(result) == f"trioftp: can't read the directory {closed}: Permission denied"
