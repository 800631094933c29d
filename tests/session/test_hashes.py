"""File hashes: HASH and OPTS HASH (draft-bryan-ftpext-hash), the X commands, limits, reuse."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO

import pytest
import trio
import trio.testing

from trioftp.filesystems import AbstractedFS
from trioftp.handlers import FTPHandler
from trioftp.session.digestcache import DigestCache, FileIdentity
from trioftp.session.runner import ThreadRunner

from ..support.ftpclient import FTPClient
from ..support.harness import SessionHarness
from ..support.servers import RunningServer

StartServer = Callable[..., Awaitable[RunningServer]]

CONTENT = random.Random(14).randbytes(300_000)
HASH_FEAT = "HASH SHA-256*;SHA-512;SHA-1;MD5;CRC32"


def crc32(data: bytes) -> str:
    return f"{zlib.crc32(data):08x}"


DIGESTS: dict[str, Callable[[bytes], str]] = {
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
    "SHA-512": lambda data: hashlib.sha512(data).hexdigest(),
    "SHA-1": lambda data: hashlib.sha1(data).hexdigest(),
    "MD5": lambda data: hashlib.md5(data).hexdigest(),
    "CRC32": crc32,
}
X_COMMANDS = {
    "XCRC": "CRC32",
    "XMD5": "MD5",
    "XSHA": "SHA-1",
    "XSHA1": "SHA-1",
    "XSHA256": "SHA-256",
    "XSHA512": "SHA-512",
}


async def hashing_server(start_server: StartServer, **attributes: Any) -> RunningServer:
    """A server with its own cache and small blocks (so hashes take many reads)."""
    attributes.setdefault("hash_cache", DigestCache())
    attributes.setdefault("hash_block_size", 4096)
    server = await start_server(**attributes)
    (server.home / "data.bin").write_bytes(CONTENT)
    (server.home / "empty").write_bytes(b"")
    (server.home / "my file.txt").write_bytes(b"spaced out\n")
    (server.home / "sub").mkdir()
    return server


async def features(client: FTPClient) -> list[str]:
    return [line[1:] for line in (await client.cmd("FEAT")).lines[1:-1]]


# --- FEAT and OPTS HASH


async def test_feat_lists_algorithms_and_x_commands(start_server: StartServer) -> None:
    server = await hashing_server(start_server)
    client = await server.client()
    listed = await features(client)
    assert HASH_FEAT in listed
    for command in X_COMMANDS:
        assert command in listed
    assert not [line for line in listed if line.startswith("RANG")]


async def test_opts_hash_selects_and_reports(start_server: StartServer) -> None:
    server = await hashing_server(start_server)
    client = await server.client()
    assert (await client.cmd("OPTS HASH")).lines == ("200 SHA-256",)
    assert (await client.cmd("OPTS HASH md5")).lines == ("200 MD5",)
    assert (await client.cmd("OPTS HASH")).lines == ("200 MD5",)
    assert "HASH SHA-256;SHA-512;SHA-1;MD5*;CRC32" in await features(client)
    assert (await client.cmd("OPTS HASH CRC-37")).lines == (
        "501 Unknown algorithm, current selection not changed.",
    )
    assert (await client.cmd("OPTS HASH")).lines == ("200 MD5",)
    # REIN starts over with the handler's algorithm.
    assert (await client.cmd("REIN")).code == 220
    assert (await client.login()).code == 230
    assert (await client.cmd("OPTS HASH")).lines == ("200 SHA-256",)


async def test_handler_chooses_default_algorithm(start_server: StartServer) -> None:
    server = await hashing_server(start_server, hash_algorithm="SHA-1")
    client = await server.client()
    assert "HASH SHA-256;SHA-512;SHA-1*;MD5;CRC32" in await features(client)
    reply = await client.cmd("HASH data.bin")
    assert reply.lines == (f"213 SHA-1 0-299999 {DIGESTS['SHA-1'](CONTENT)} data.bin",)


# --- HASH


@pytest.mark.parametrize("algorithm", list(DIGESTS))
async def test_hash_each_algorithm(start_server: StartServer, algorithm: str) -> None:
    server = await hashing_server(start_server)
    client = await server.client()
    assert (await client.cmd(f"OPTS HASH {algorithm}")).lines == (f"200 {algorithm}",)
    expected = DIGESTS[algorithm](CONTENT)
    reply = await client.cmd("HASH data.bin")
    assert reply.lines == (f"213 {algorithm} 0-299999 {expected} data.bin",)
    reply = await client.cmd("HASH /data.bin")
    assert reply.lines == (f"213 {algorithm} 0-299999 {expected} /data.bin",)


async def test_hash_empty_file_and_spaces(start_server: StartServer) -> None:
    server = await hashing_server(start_server)
    client = await server.client()
    assert (await client.cmd("HASH empty")).lines == (
        f"213 SHA-256 0-0 {hashlib.sha256(b'').hexdigest()} empty",
    )
    assert (await client.cmd("HASH my file.txt")).lines == (
        f"213 SHA-256 0-10 {hashlib.sha256(b'spaced out' + bytes([10])).hexdigest()} my file.txt",
    )


async def test_hash_errors(start_server: StartServer) -> None:
    server = await hashing_server(start_server)
    os.symlink("/etc/passwd", server.home / "escape")
    client = await server.client()
    assert (await client.cmd("HASH nothing")).lines == ("550 nothing: No such file.",)
    assert (await client.cmd("HASH sub")).lines == ("553 sub: Not a regular file.",)
    assert (await client.cmd("HASH")).lines == ("501 Syntax error: command needs an argument.",)
    reply = await client.cmd("HASH escape")
    assert reply.lines == ('550 "/escape" points to a path outside the user\'s root directory.',)
    anonymous = await server.client(login=False)
    assert (await anonymous.cmd("HASH data.bin")).lines == ("530 Log in with USER and PASS first.",)


async def test_hash_needs_read_permission(start_server: StartServer) -> None:
    server = await hashing_server(start_server, perm="elw")
    client = await server.client()
    assert (await client.cmd("HASH data.bin")).lines == ("550 Not enough privileges.",)
    assert (await client.cmd("XSHA256 data.bin")).lines == ("550 Not enough privileges.",)


# --- the X commands


@pytest.mark.parametrize("command", list(X_COMMANDS))
async def test_x_command_whole_file_and_range(start_server: StartServer, command: str) -> None:
    server = await hashing_server(start_server)
    client = await server.client()
    digest = DIGESTS[X_COMMANDS[command]]
    assert (await client.cmd(f"{command} data.bin")).lines == (f"213 {digest(CONTENT)}",)
    reply = await client.cmd(f"{command} data.bin 1000 250001")
    assert reply.lines == (f"213 {digest(CONTENT[1000:250001])}",)


async def test_x_command_paths_with_spaces(start_server: StartServer) -> None:
    server = await hashing_server(start_server)
    (server.home / "report 1 2").write_bytes(b"a file with numbers in its name")
    client = await server.client()
    data = b"spaced out\n"
    assert (await client.cmd("XCRC my file.txt")).lines == (f"213 {crc32(data)}",)
    assert (await client.cmd("XCRC my file.txt 3 7")).lines == (f"213 {crc32(data[3:7])}",)
    # A file whose whole name ends in numbers is that file, not a range.
    reply = await client.cmd("XMD5 report 1 2")
    assert reply.lines == (f"213 {hashlib.md5(b'a file with numbers in its name').hexdigest()}",)


async def test_x_command_bad_ranges(start_server: StartServer) -> None:
    server = await hashing_server(start_server)
    client = await server.client()
    assert (await client.cmd("XCRC data.bin 10")).lines == (
        "501 XCRC needs both a start and an end offset.",
    )
    assert (await client.cmd("XCRC data.bin 10 300001")).lines == (
        "501 Invalid range 10-300001: the file has 300000 bytes and the start must be below "
        "the end.",
    )
    assert (await client.cmd("XCRC data.bin 20 20")).code == 501
    assert (await client.cmd("XSHA1 nothing 0 1")).lines == ("550 nothing: No such file.",)
    assert (await client.cmd("XSHA1 sub")).lines == ("550 sub: Not a regular file.",)


# --- limits


async def test_size_cap(start_server: StartServer) -> None:
    server = await hashing_server(start_server, hash_max_size=1000)
    client = await server.client()
    assert (await client.cmd("HASH data.bin")).lines == ("556 data.bin: Too large to hash here.",)
    assert (await client.cmd("XSHA512 data.bin")).lines == (
        "556 data.bin: Too large to hash here.",
    )
    reply = await client.cmd("XSHA512 data.bin 0 1000")
    assert reply.lines == (f"213 {hashlib.sha512(CONTENT[:1000]).hexdigest()}",)


async def test_session_budget(start_server: StartServer) -> None:
    server = await hashing_server(start_server, hash_session_budget=500_000, hash_cache=None)
    client = await server.client()
    assert (await client.cmd("XMD5 data.bin")).code == 213
    assert (await client.cmd("XMD5 data.bin 0 200000")).code == 213
    assert (await client.cmd("XMD5 data.bin 0 1")).lines == (
        "556 Hashing limit of this session reached.",
    )
    assert (await client.cmd("HASH empty")).code == 213  # nothing to read
    # Another session has its own budget.
    other = await server.client()
    assert (await other.cmd("XMD5 data.bin")).code == 213


async def test_cached_hashes_cost_no_budget(start_server: StartServer) -> None:
    server = await hashing_server(start_server, hash_session_budget=400_000)
    client = await server.client()
    expected = f"213 SHA-256 0-299999 {DIGESTS['SHA-256'](CONTENT)} data.bin"
    for _ in range(5):
        assert (await client.cmd("HASH data.bin")).lines == (expected,)
    assert (await client.cmd("XSHA256 data.bin")).lines == (f"213 {DIGESTS['SHA-256'](CONTENT)}",)
    assert (await client.cmd("XMD5 data.bin")).lines == (
        "556 Hashing limit of this session reached.",
    )


# --- reuse: hashes of unchanged files, hashes of uploads


def rewrite_keeping_identity(path: Path, data: bytes) -> None:
    """Change the bytes in place but keep size, inode and mtime: the cache cannot tell."""
    before = path.stat()
    assert len(data) == before.st_size
    with path.open("r+b") as file:
        file.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


async def test_hash_reused_while_file_unchanged(start_server: StartServer) -> None:
    cache = DigestCache()
    server = await hashing_server(start_server, hash_cache=cache)
    client = await server.client()
    first = await client.cmd("HASH data.bin")
    other = bytes(reversed(CONTENT))
    rewrite_keeping_identity(server.home / "data.bin", other)
    assert (await client.cmd("HASH data.bin")).lines == first.lines  # from the cache
    os.utime(server.home / "data.bin", ns=(0, 1_000_000_000))  # a new mtime: hashed again
    reply = await client.cmd("HASH data.bin")
    assert reply.lines == (f"213 SHA-256 0-299999 {DIGESTS['SHA-256'](other)} data.bin",)


async def test_upload_hash_reused(start_server: StartServer) -> None:
    cache = DigestCache()
    server = await hashing_server(start_server, hash_uploads=True, hash_cache=cache)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.stor("up.bin", CONTENT)).code == 226
    assert (server.home / "up.bin").read_bytes() == CONTENT
    path = os.path.realpath(server.home / "up.bin")
    assert len(cache) == 1
    # Proof that HASH reads nothing: bytes changed behind the cache's back go unseen.
    rewrite_keeping_identity(server.home / "up.bin", bytes(len(CONTENT)))
    expected = f"213 SHA-256 0-299999 {DIGESTS['SHA-256'](CONTENT)} up.bin"
    assert (await client.cmd("HASH up.bin")).lines == (expected,)
    # Appending changes size and mtime: the hash is computed anew.
    assert (await client.stor("up.bin", b"tail", command="APPE")).code == 226
    now = bytes(len(CONTENT)) + b"tail"
    reply = await client.cmd("HASH up.bin")
    assert reply.lines == (f"213 SHA-256 0-300003 {DIGESTS['SHA-256'](now)} up.bin",)
    assert cache.lookup(path, identity_of_path(path), "SHA-256") == DIGESTS["SHA-256"](now)


def identity_of_path(path: str) -> FileIdentity:
    return FileIdentity.of(os.stat(path))


async def test_upload_hashed_in_selected_algorithm(start_server: StartServer) -> None:
    cache = DigestCache()
    server = await hashing_server(start_server, hash_uploads=True, hash_cache=cache)
    client = await server.client()
    assert (await client.cmd("TYPE A")).code == 200
    assert (await client.cmd("OPTS HASH CRC32")).code == 200
    assert (await client.stor("text.txt", b"one\r\ntwo\r\n")).code == 226
    path = os.path.realpath(server.home / "text.txt")
    # TYPE A: the hash is of the bytes on disk (LF), as a TYPE I download gets them.
    assert cache.lookup(path, identity_of_path(path), "CRC32") == crc32(b"one\ntwo\n")
    assert cache.lookup(path, identity_of_path(path), "SHA-256") is None


async def test_partial_uploads_not_hashed(start_server: StartServer) -> None:
    cache = DigestCache()
    server = await hashing_server(start_server, hash_uploads=True, hash_cache=cache)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.stor("log", b"first", command="APPE")).code == 226
    assert (await client.cmd("REST 2")).code == 350
    assert (await client.stor("log", b"RST")).code == 226
    assert (server.home / "log").read_bytes() == b"fiRST"
    assert len(cache) == 0


async def test_uploads_not_hashed_by_default(start_server: StartServer) -> None:
    cache = DigestCache()
    server = await hashing_server(start_server, hash_cache=cache)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.stor("up.bin", CONTENT)).code == 226
    assert len(cache) == 0


# --- ABOR, and the end of the session, stop the worker thread


class GatedFile:
    """A file one of whose reads waits until the test lets it go (in the worker thread)."""

    def __init__(self, file: BinaryIO, gate: Gate) -> None:
        self.file = file
        self.gate = gate

    def read(self, size: int) -> bytes:
        self.gate.reads += 1
        if self.gate.reads == self.gate.wait_at:
            self.gate.reached.set()
            assert self.gate.go.wait(10)
        return self.file.read(size)

    def seek(self, offset: int) -> int:
        return self.file.seek(offset)

    def fileno(self) -> int:
        return self.file.fileno()

    def __enter__(self) -> GatedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()
        self.gate.closed = True


class Gate:
    def __init__(self, wait_at: int = 2) -> None:
        self.wait_at = wait_at  #: the read that waits for the test
        self.reads = 0
        self.reached = threading.Event()
        self.go = threading.Event()
        self.closed = False


def gated_fs(gate: Gate) -> type[AbstractedFS]:
    class GatedFS(AbstractedFS):
        def open(self, filename: str, mode: str) -> Any:
            file = super().open(filename, mode)
            return GatedFile(file, gate) if mode == "rb" else file

    return GatedFS


async def test_abor_stops_hashing(session_harness: SessionHarness, home: Path) -> None:
    (home / "big.bin").write_bytes(CONTENT)
    gate = Gate()
    session = session_harness(
        runner=ThreadRunner(), abstracted_fs=gated_fs(gate), hash_block_size=1000,
        hash_cache=None,
    )  # fmt: skip
    client = session.client
    assert (await client.reply()).code == 220
    assert (await client.login()).code == 230
    await client.send("HASH big.bin")
    await trio.to_thread.run_sync(gate.reached.wait)
    await client.send("ABOR")
    await client.send("NOOP")  # held until the HASH is answered
    await trio.testing.wait_all_tasks_blocked()
    gate.go.set()
    assert (await client.reply()).lines == ("426 Hashing aborted.",)
    assert (await client.reply()).lines == ("226 ABOR command successful.",)
    assert (await client.reply()).lines == ("200 I successfully did nothing.",)
    assert gate.closed
    assert gate.reads == 2  # of 300: the thread stopped at the next block
    assert session.handler.session_state.hashed_bytes == 2000
    assert (await client.cmd("ABOR")).lines == ("225 No transfer to abort.",)


async def test_session_end_stops_hashing(session_harness: SessionHarness, home: Path) -> None:
    (home / "big.bin").write_bytes(CONTENT)
    gate = Gate()
    session = session_harness(
        runner=ThreadRunner(), abstracted_fs=gated_fs(gate), hash_block_size=1000
    )
    client = session.client
    assert (await client.reply()).code == 220
    assert (await client.login()).code == 230
    await client.send("XSHA512 big.bin")
    await trio.to_thread.run_sync(gate.reached.wait)
    await session.stream.aclose()  # the client goes away
    await trio.testing.wait_all_tasks_blocked()
    gate.go.set()
    with trio.fail_after(10):
        await session.ended.wait()
    assert gate.closed
    assert gate.reads == 2


async def test_abor_after_the_last_block(session_harness: SessionHarness, home: Path) -> None:
    (home / "big.bin").write_bytes(CONTENT)
    gate = Gate(wait_at=300)  # 300 blocks of 1000 bytes: the last read waits
    session = session_harness(
        runner=ThreadRunner(), abstracted_fs=gated_fs(gate), hash_block_size=1000,
        hash_cache=None,
    )  # fmt: skip
    client = session.client
    assert (await client.reply()).code == 220
    assert (await client.login()).code == 230
    await client.send("XSHA256 big.bin")
    await trio.to_thread.run_sync(gate.reached.wait)
    await client.send("ABOR")
    await trio.testing.wait_all_tasks_blocked()
    gate.go.set()
    # Nothing was left to abort: the hash is answered, then the ABOR alone.
    assert (await client.reply()).lines == (f"213 {DIGESTS['SHA-256'](CONTENT)}",)
    assert (await client.reply()).lines == ("226 ABOR command successful.",)
    assert gate.closed


async def test_hashes_removed_from_the_table(start_server: StartServer) -> None:
    names = {"HASH", *X_COMMANDS}
    table = {name: entry for name, entry in FTPHandler.proto_cmds.items() if name not in names}
    server = await hashing_server(start_server, proto_cmds=table)
    client = await server.client()
    listed = await features(client)
    assert not [line for line in listed if line.split(" ")[0] in names]
    assert (await client.cmd("OPTS HASH")).lines == ("501 Unsupported command 'HASH' for OPTS.",)
    assert (await client.cmd("HASH data.bin")).lines == ('500 Command "HASH" not understood.',)
