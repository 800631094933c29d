"""The hash algorithms, OPTS HASH, the hashing job and writer, and the digest cache."""

from __future__ import annotations

import hashlib
import io
import types
import zlib
from pathlib import Path

import pytest

from trioftp.filesystems import AbstractedFS
from trioftp.session.digestcache import DigestCache, FileIdentity
from trioftp.session.digests import (
    HashCancelled,
    HashingWriter,
    HashJob,
    algorithm_named,
    hash_feature,
    hash_file,
    hash_option,
    selected_algorithm,
)

ONE = FileIdentity(1, 10, 100, 5)


def test_algorithm_names() -> None:
    assert algorithm_named("sha-256") == "SHA-256"
    assert algorithm_named(" Sha256 ") == "SHA-256"
    assert algorithm_named("sha1") == "SHA-1"
    assert algorithm_named("crc-32") == "CRC32"
    assert algorithm_named("md5") == "MD5"
    assert algorithm_named("SHA-3") is None
    assert algorithm_named("") is None


def test_selected_algorithm() -> None:
    assert selected_algorithm(None, "SHA-256") == "SHA-256"
    assert selected_algorithm(None, "md5") == "MD5"
    assert selected_algorithm("CRC32", "md5") == "CRC32"
    assert selected_algorithm(None, "bogus") == "SHA-256"


def test_hash_option_and_feature() -> None:
    assert hash_option("", "SHA-1") == ("200 SHA-1", "SHA-1")
    assert hash_option(" sha-512 ", "SHA-1") == ("200 SHA-512", "SHA-512")
    assert hash_option("CRC-37", "SHA-1") == (
        "501 Unknown algorithm, current selection not changed.",
        "SHA-1",
    )
    assert hash_feature("CRC32") == "HASH SHA-256;SHA-512;SHA-1;MD5;CRC32*"


def test_hashing_writer_hashes_what_it_writes() -> None:
    target = io.BytesIO()
    writer = HashingWriter(target, ["SHA-256", "CRC32"])  # type: ignore[arg-type]
    writer.write(b"hello ")
    writer.write(memoryview(b"world"))
    writer.flush()  # the wrapped file's own
    assert target.getvalue() == b"hello world"
    assert writer.digests() == {
        "SHA-256": hashlib.sha256(b"hello world").hexdigest(),
        "CRC32": f"{zlib.crc32(b'hello world'):08x}",
    }


def test_hash_file_ranges_and_cancel(tmp_path: Path) -> None:
    data = bytes(range(256)) * 40
    (tmp_path / "f").write_bytes(data)
    fs = AbstractedFS(str(tmp_path), None)
    path = str(tmp_path / "f")
    job = HashJob("MD5", start=100, end=5000, block_size=333)
    assert hash_file(fs, path, job, size=len(data), identity=None, cache=None) == (
        hashlib.md5(data[100:5000]).hexdigest()
    )
    assert job.bytes_read == 4900
    cancelled = HashJob("MD5", block_size=333)
    cancelled.cancel.set()
    with pytest.raises(HashCancelled):
        hash_file(fs, path, cancelled, size=len(data), identity=None, cache=None)
    assert cancelled.bytes_read == 0


def test_hash_file_caches_whole_unchanged_files(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    fs = AbstractedFS(str(tmp_path), None)
    path = str(tmp_path / "f")
    identity = FileIdentity.of((tmp_path / "f").stat())
    cache = DigestCache()
    hash_file(fs, path, HashJob("SHA-1", end=2), size=3, identity=identity, cache=cache)
    assert len(cache) == 0  # a range is never cached
    stale = FileIdentity(identity.device, identity.inode, 3, identity.mtime_ns - 1)
    hash_file(fs, path, HashJob("SHA-1"), size=3, identity=stale, cache=cache)
    assert len(cache) == 0  # changed while read
    hash_file(fs, path, HashJob("SHA-1"), size=3, identity=identity, cache=cache)
    assert cache.lookup(path, identity, "SHA-1") == hashlib.sha1(b"abc").hexdigest()


def test_cache_keeps_digests_of_one_identity() -> None:
    cache = DigestCache()
    cache.store("/a", ONE, {"MD5": "m"})
    cache.store("/a", ONE, {"SHA-1": "s"})
    assert cache.lookup("/a", ONE, "MD5") == "m"
    assert cache.lookup("/a", ONE, "SHA-1") == "s"
    assert cache.lookup("/a", ONE, "CRC32") is None
    changed = FileIdentity(1, 10, 100, 6)
    assert cache.lookup("/a", changed, "MD5") is None
    assert len(cache) == 0  # the stale entry is gone
    cache.store("/a", ONE, {"MD5": "m"})
    cache.store("/a", changed, {"SHA-1": "t"})
    assert cache.lookup("/a", changed, "MD5") is None  # an old identity's digests are dropped
    cache.forget("/a")
    assert len(cache) == 0


def test_cache_evicts_least_recently_used() -> None:
    cache = DigestCache(max_entries=2)
    cache.store("/a", ONE, {"MD5": "a"})
    cache.store("/b", ONE, {"MD5": "b"})
    assert cache.lookup("/a", ONE, "MD5") == "a"  # /a is now the most recent
    cache.store("/c", ONE, {"MD5": "c"})
    assert cache.lookup("/b", ONE, "MD5") is None
    assert cache.lookup("/a", ONE, "MD5") == "a"
    assert cache.lookup("/c", ONE, "MD5") == "c"
    disabled = DigestCache(max_entries=0)
    disabled.store("/a", ONE, {"MD5": "a"})
    assert len(disabled) == 0


def test_identity_of_a_stat_look_alike() -> None:
    st = types.SimpleNamespace(st_size=7, st_mtime=1.5)
    assert FileIdentity.of(st) == FileIdentity(0, 0, 7, 1_500_000_000)
