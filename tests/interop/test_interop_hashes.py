"""File hashes with real clients: lftp's ``quote``, and rclone.

lftp has no checksum command of its own; ``quote HASH``/``quote XSHA256``
send the commands and print the server's reply on stdout, which is what a
script verifying an upload reads. rclone's FTP backend offers no hashes at
all (its ``Hashes()`` is empty), so ``rclone check`` falls back to sizes;
``rclone hashsum --download`` hashes the bytes it downloads, which must
match what the server says without sending them.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from trioftp.servers import FTPServer
from trioftp.session.digestcache import DigestCache, FileIdentity

from ..support.interop import assert_ok, lftp_commands, require_binary, run_client, run_lftp
from ..support.servers import PASSWORD, USER, ThreadedServer, make_handler, serve_in_thread

DATA = random.Random(14).randbytes(3_000_000)
SHA256 = hashlib.sha256(DATA).hexdigest()
MD5 = hashlib.md5(DATA).hexdigest()


@pytest.fixture
def cache() -> DigestCache:
    return DigestCache()


@pytest.fixture
def hashing_server(home: Path, cache: DigestCache) -> Iterator[ThreadedServer]:
    handler = make_handler(home, hash_uploads=True, hash_cache=cache)
    with serve_in_thread(FTPServer(("127.0.0.1", 0), handler), home) as running:
        yield running


def lftp(
    binary: str, server: ThreadedServer, workdir: Path, script: str
) -> subprocess.CompletedProcess[bytes]:
    target = f"-u {USER},{PASSWORD} ftp://{server.host}:{server.port}"
    return run_lftp(binary, "set ftp:ssl-allow no", target, script, cwd=workdir, timeout=60)


def test_lftp_quote_hash_after_put(
    lftp_binary: str, hashing_server: ThreadedServer, workdir: Path, cache: DigestCache
) -> None:
    (workdir / "local.bin").write_bytes(DATA)
    script = (
        "put local.bin -o up.bin; quote HASH up.bin; quote XSHA256 up.bin; "
        "quote XCRC up.bin 0 10; quote OPTS HASH MD5; quote HASH up.bin"
    )
    result = lftp(lftp_binary, hashing_server, workdir, script)
    assert_ok(result)
    assert result.stdout.decode().splitlines() == [
        f"213 SHA-256 0-2999999 {SHA256} up.bin",
        f"213 {SHA256}",
        f"213 {zlib.crc32(DATA[:10]):08x}",
        "200 MD5",
        f"213 MD5 0-2999999 {MD5} up.bin",
    ]
    assert "STOR up.bin" in lftp_commands(result)
    stored = hashing_server.home / "up.bin"
    assert stored.read_bytes() == DATA
    # The SHA-256 came from the upload itself: the cache had it before HASH asked.
    identity = FileIdentity.of(os.stat(stored))
    assert cache.lookup(os.path.realpath(stored), identity, "SHA-256") == SHA256


def test_lftp_quote_hash_errors(
    lftp_binary: str, hashing_server: ThreadedServer, workdir: Path
) -> None:
    (hashing_server.home / "dir").mkdir()
    result = lftp(lftp_binary, hashing_server, workdir, "quote HASH missing; quote HASH dir")
    assert result.stdout.decode().splitlines() == [
        "550 missing: No such file.",
        "553 dir: Not a regular file.",
    ]


def test_rclone_has_no_ftp_hashes_but_download_hash_matches(
    hashing_server: ThreadedServer, workdir: Path, cache: DigestCache
) -> None:
    rclone = require_binary("rclone")
    (workdir / "src").mkdir()
    (workdir / "src" / "up.bin").write_bytes(DATA)
    obscured = run_client([rclone, "obscure", PASSWORD], cwd=workdir, timeout=30)
    assert_ok(obscured)
    remote = [
        "--ftp-host", hashing_server.host, "--ftp-port", str(hashing_server.port),
        "--ftp-user", USER, "--ftp-pass", obscured.stdout.decode().strip(),
        "--config", str(workdir / "rclone.conf"),
    ]  # fmt: skip
    copied = run_client([rclone, "copy", "src", ":ftp:", *remote], cwd=workdir, timeout=60)
    assert_ok(copied)
    assert (hashing_server.home / "up.bin").read_bytes() == DATA
    # No hash over FTP: rclone says so and checks sizes only.
    unsupported = run_client(
        [rclone, "hashsum", "MD5", ":ftp:up.bin", *remote], cwd=workdir, timeout=60
    )
    assert b"hash unsupported" in unsupported.stderr
    checked = run_client([rclone, "check", "src", ":ftp:", *remote], cwd=workdir, timeout=60)
    assert_ok(checked)
    assert b"No common hash found" in checked.stderr
    assert b"0 differences found" in checked.stderr
    # Hashing the downloaded bytes gives what the server answers without sending them.
    downloaded = run_client(
        [rclone, "hashsum", "MD5", "--download", ":ftp:up.bin", *remote], cwd=workdir, timeout=60
    )
    assert_ok(downloaded)
    assert downloaded.stdout.decode() == f"{MD5}  up.bin\n"
    assert len(cache) == 1  # rclone's upload was hashed as it was written
