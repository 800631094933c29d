"""``trioftp --storage``: the command serving S3 (moto) and memory, as a real subprocess."""

from __future__ import annotations

import ftplib
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..support.interop import download
from ..support.s3server import ACCESS_KEY, SECRET_KEY, S3Endpoint
from ..support.serverprocess import running, trioftp_command

LOGIN = ("-w", "-u", "user", "-P", "pass")


def without_aws(**extra: str) -> dict[str, str]:
    """This process's environment with no AWS_* variable, plus *extra*."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(extra)
    return env


def upload(ftp: ftplib.FTP, name: str, data: bytes) -> str:
    return ftp.storbinary(f"STOR {name}", io.BytesIO(data))


def test_s3_from_environment(tmp_path: Path, s3: S3Endpoint, bucket: str, s3fs_store: Any) -> None:
    env = without_aws(**s3.environment())
    url = f"s3://{bucket}/ftp-root"
    with running(trioftp_command("--storage", url, *LOGIN), cwd=tmp_path, env=env) as server:
        assert f"serving {url} (read-write) to user 'user'" in server.line
        with server.ftp("user", "pass") as ftp:
            assert upload(ftp, "hello.txt", b"Hello, S3!\n") == "226 Transfer complete."
            assert ftp.mkd("dir") == "/dir"
            assert sorted(ftp.nlst()) == ["dir", "hello.txt"]
            assert download(ftp, "hello.txt") == b"Hello, S3!\n"
            ftp.quit()
        stderr = server.stop_cleanly()
    assert s3fs_store.cat_file(f"{bucket}/ftp-root/hello.txt") == b"Hello, S3!\n"
    assert "[user] STOR /hello.txt completed=1 bytes=11" in stderr
    assert str(tmp_path) not in stderr


def test_s3_from_storage_options(
    tmp_path: Path, s3: S3Endpoint, bucket: str, s3fs_store: Any
) -> None:
    options = [
        f"--storage-option=endpoint_url={s3.url}",
        f"--storage-option=key={ACCESS_KEY}",
        f"--storage-option=secret={SECRET_KEY}",
        "--storage-option=use_listings_cache=false",
    ]
    command = trioftp_command("--storage", f"s3://{bucket}", *options, *LOGIN)
    with running(command, cwd=tmp_path, env=without_aws()) as server:
        with server.ftp("user", "pass") as ftp:
            assert upload(ftp, "top.txt", b"top") == "226 Transfer complete."
            ftp.quit()
        server.stop_cleanly()
    assert s3fs_store.cat_file(f"{bucket}/top.txt") == b"top"


def test_memory_storage(tmp_path: Path) -> None:
    with running(trioftp_command("--storage", "memory://", *LOGIN), cwd=tmp_path) as server:
        with server.ftp("user", "pass") as ftp:
            assert upload(ftp, "m.txt", b"in memory") == "226 Transfer complete."
            assert download(ftp, "m.txt") == b"in memory"
            ftp.quit()
        server.stop_cleanly()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trioftp", "-p", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_missing_bucket_fails_at_startup(s3: S3Endpoint) -> None:
    result = run("--storage", "s3://no-such-bucket/x", env=without_aws(**s3.environment()))
    assert result.returncode == 1
    assert result.stderr == "trioftp: --storage: s3://no-such-bucket/x: no such bucket\n"


def test_missing_local_directory_fails_at_startup(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/none"
    result = run("--storage", url, env=without_aws())
    assert result.returncode == 1
    assert result.stderr == f"trioftp: --storage: {url}: no such directory\n"


def test_malformed_storage_option() -> None:
    result = run("--storage", "memory://", "--storage-option", "novalue", env=without_aws())
    assert result.returncode == 2
    assert "expected KEY=VALUE, not 'novalue'" in result.stderr
