"""The Trio-native examples: an upload hook that processes files as they arrive; S3 storage."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
from pathlib import Path

from ..support.examples import DATA, example
from ..support.interop import download
from ..support.s3server import S3Endpoint
from ..support.serverprocess import running


def test_upload_hook_ftpd(share: Path) -> None:
    with running(example("upload_hook_ftpd.py", "0", str(share)), cwd=share) as server:
        assert server.line == f"upload_hook_ftpd: serving {share} at ftp://127.0.0.1:{server.port}/"
        uploads = {"one.bin": DATA, "two.txt": b"second upload\n"}
        with server.ftp("user", "12345") as ftp:
            for name, data in uploads.items():
                ftp.storbinary(f"STOR {name}", io.BytesIO(data))
            # Processed in order of arrival, one line each on stdout.
            for name, data in uploads.items():
                digest = hashlib.sha256(data).hexdigest()
                assert server.read_line() == f"processed {name} {digest}"
                assert download(ftp, f"{name}.sha256") == f"{digest}  {name}\n".encode()
            ftp.quit()
        stderr = server.stop_cleanly()
    assert (share / "one.bin").read_bytes() == DATA
    assert stderr.rstrip().endswith("server stopped")


def test_s3_ftpd(s3: S3Endpoint, tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    store = s3.filesystem()
    store.pipe_file(f"{bucket}/ftp/readme.txt", b"in the bucket\n")
    env = {**os.environ, **s3.environment()}
    with running(example("s3_ftpd.py", "0", f"{bucket}/ftp"), cwd=tmp_path, env=env) as server:
        assert (
            server.line == f"s3_ftpd: serving s3://{bucket}/ftp at ftp://127.0.0.1:{server.port}/"
        )
        with server.ftp("user", "12345") as ftp:
            ftp.storbinary("STOR up.bin", io.BytesIO(DATA))
            assert download(ftp, "readme.txt") == b"in the bucket\n"
            assert download(ftp, "up.bin") == DATA
            assert ftp.nlst() == ["readme.txt", "up.bin"]
            ftp.quit()
        with server.ftp("anonymous", "guest@") as anonymous:
            assert anonymous.nlst() == ["readme.txt", "up.bin"]
            anonymous.quit()
        stderr = server.stop_cleanly()
    assert store.cat_file(f"{bucket}/ftp/up.bin") == DATA
    assert "[user] STOR /up.bin completed=1 bytes=" in stderr


def test_s3_ftpd_missing_bucket(s3: S3Endpoint, tmp_path: Path) -> None:
    env = {**os.environ, **s3.environment()}
    result = subprocess.run(
        example("s3_ftpd.py", "0", "no-such-bucket/ftp"),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    last_line = result.stderr.splitlines()[-1]
    assert (
        last_line == "s3_ftpd: cannot list no-such-bucket/ftp: The specified bucket does not exist"
    )
