"""Zero-copy plain uploads (``os.splice``): used only where safe, exact bytes either way.

Each test records the transfer handlers the server makes, so it can tell how
an upload's bytes went: ``spliced`` is what splice(2) moved into the file,
``transmitted`` what the server received.
"""

from __future__ import annotations

import gc
import hashlib
import io
import os
import random
import socket
import struct
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from trioftp import _splice
from trioftp.authorizers import DummyAuthorizer
from trioftp.dtp import DTPHandler, ThrottledDTPHandler
from trioftp.filesystems import AbstractedFS
from trioftp.session.digestcache import DigestCache
from trioftp.session.digests import HashingWriter
from trioftp.session.runner import InlineRunner
from trioftp.userfile import UsersFileAuthorizer

from ..support.ftpclient import FTPClient, Reply, wait_transmitted
from ..support.servers import PASSWORD, USER, RunningServer
from ..support.users import user_table, users_file

StartServer = Callable[..., Awaitable[RunningServer]]

pytestmark = pytest.mark.skipif(not _splice.AVAILABLE, reason="os.splice: Linux, Python 3.10+")

DONE = "226 Transfer complete."
#: Several blocks and pipe loads, and not a multiple of either.
SIZE = 3 * 1024 * 1024 + 12345


def random_bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def recording(base: type[DTPHandler] = DTPHandler, **attributes: Any) -> type[DTPHandler]:
    """A *base* subclass that keeps every instance in its ``made`` list."""

    def init(self: DTPHandler, sock_obj: trio.abc.Stream, cmd_channel: Any) -> None:
        base.__init__(self, sock_obj, cmd_channel)
        made.append(self)

    made: list[DTPHandler] = []
    return type("Recording", (base,), {"__init__": init, "made": made, **attributes})


def uploads(handler_class: type[DTPHandler]) -> list[tuple[int, int]]:
    """(received, spliced) of each upload the recorded handlers made."""
    made: list[DTPHandler] = handler_class.made  # type: ignore[attr-defined]
    return [(dtp.transmitted, dtp.spliced) for dtp in made if dtp.receive]


def open_fds() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


async def start_stor(client: FTPClient, name: str, first: bytes) -> trio.SocketStream:
    """Start STOR and send *first*; return once the server has received it all."""
    stream = await client.pasv()
    assert (await client.cmd("NOOP")).code == 200  # the server has accepted by now
    assert (await client.cmd(f"STOR {name}")).code == 125
    await stream.send_all(first)
    await wait_transmitted(client, len(first))
    return stream


def reset(stream: trio.SocketStream) -> None:
    """Close with a TCP RST instead of a FIN."""
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    stream.socket.close()


@pytest.mark.parametrize("disk_block_size", [4 << 20, 64 << 10])
async def test_binary_upload_is_spliced_byte_exact(
    start_server: StartServer, disk_block_size: int
) -> None:
    events: list[str] = []
    handler = recording(disk_block_size=disk_block_size)
    server = await start_server(
        dtp_handler=handler, on_file_received=lambda _session, path: events.append(path)
    )
    sent = random_bytes(SIZE)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.stor("up.bin", sent)).first == DONE
    assert (server.home / "up.bin").read_bytes() == sent
    assert uploads(handler) == [(SIZE, SIZE)]
    assert events == [str(server.home / "up.bin")]
    await client.aclose()


async def test_an_empty_upload_is_spliced_into_an_empty_file(start_server: StartServer) -> None:
    handler = recording()
    server = await start_server(dtp_handler=handler)
    (server.home / "up.bin").write_bytes(b"old content")
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.stor("up.bin", b"")).first == DONE
    assert (server.home / "up.bin").read_bytes() == b""
    assert uploads(handler) == [(0, 0)]
    await client.aclose()


async def test_rest_stor_splices_at_the_offset(start_server: StartServer) -> None:
    handler = recording()
    server = await start_server(dtp_handler=handler)
    old = random_bytes(200_000, seed=1)
    (server.home / "up.bin").write_bytes(old)
    sent = random_bytes(150_000, seed=2)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.cmd("REST 100000")).code == 350
    assert (await client.stor("up.bin", sent)).first == DONE
    assert (server.home / "up.bin").read_bytes() == old[:100_000] + sent
    assert uploads(handler) == [(150_000, 150_000)]
    await client.aclose()


async def test_appe_falls_back_with_no_byte_lost(start_server: StartServer) -> None:
    """splice(2) refuses an O_APPEND file (EINVAL) after the first bytes are in the pipe."""
    handler = recording()
    server = await start_server(dtp_handler=handler)
    (server.home / "up.bin").write_bytes(b"existing\n")
    sent = random_bytes(SIZE, seed=3)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.stor("up.bin", sent, command="APPE")).first == DONE
    assert (server.home / "up.bin").read_bytes() == b"existing\n" + sent
    assert uploads(handler) == [(SIZE, 0)]
    await client.aclose()


async def test_ascii_upload_is_converted_not_spliced(start_server: StartServer) -> None:
    handler = recording()
    server = await start_server(dtp_handler=handler)
    client = await server.client()
    assert (await client.cmd("TYPE A")).code == 200
    assert (await client.stor("text.txt", b"one\r\ntwo\r\n" * 1000)).first == DONE
    assert (server.home / "text.txt").read_bytes() == b"one\ntwo\n" * 1000
    assert uploads(handler) == [(10_000, 0)]
    await client.aclose()


async def test_use_splice_off_writes_the_same_bytes(start_server: StartServer) -> None:
    handler = recording(use_splice=False)
    server = await start_server(dtp_handler=handler)
    sent = random_bytes(SIZE, seed=4)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.stor("up.bin", sent)).first == DONE
    assert (server.home / "up.bin").read_bytes() == sent
    assert uploads(handler) == [(SIZE, 0)]
    await client.aclose()


async def test_an_upload_past_the_quota_is_cut_exactly_unspliced(
    start_server: StartServer, home: Path, tmp_path: Path
) -> None:
    text = user_table("q", home, "pw", perm='"elradfmw"') + "[users.q.limits]\n"
    text += "quota_bytes = 100000\n"
    handler = recording()
    server = await start_server(
        authorizer=UsersFileAuthorizer(users_file(tmp_path / "users.toml", text)),
        dtp_handler=handler,
    )
    sent = random_bytes(300_000, seed=5)
    client, _ = await FTPClient.connect(server.host, server.port)
    assert (await client.login("q", "pw")).code == 230
    assert (await client.cmd("TYPE I")).code == 200
    reply = await client.stor("up.bin", sent)
    assert reply.code == 552, reply
    assert (home / "up.bin").read_bytes() == sent[:100_000]
    assert [spliced for _, spliced in uploads(handler)] == [0]
    await client.aclose()


async def test_hashed_uploads_are_written_through_the_hasher(start_server: StartServer) -> None:
    handler = recording()
    server = await start_server(dtp_handler=handler, hash_uploads=True, hash_cache=DigestCache())
    sent = random_bytes(300_000, seed=6)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.stor("up.bin", sent)).first == DONE
    assert uploads(handler) == [(300_000, 0)]
    digest = hashlib.sha256(sent).hexdigest()
    assert (await client.cmd("HASH up.bin")).lines == (f"213 SHA-256 0-299999 {digest} up.bin",)
    await client.aclose()


def dev_full_fs() -> type[AbstractedFS]:
    """A filesystem whose uploads all land in ``/dev/full``: a real descriptor, not a file."""

    def open_upload(self: AbstractedFS, filename: str, mode: str) -> Any:
        return open("/dev/full", "wb")

    return type("DevFullFS", (AbstractedFS,), {"open_upload": open_upload})


async def test_a_descriptor_that_is_no_regular_file_is_not_spliced(
    start_server: StartServer,
) -> None:
    handler = recording()
    server = await start_server(abstracted_fs=dev_full_fs(), dtp_handler=handler)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    stream = await client.pasv()
    assert (await client.cmd("STOR up.bin")).code in (125, 150)
    try:
        await stream.send_all(random_bytes(300_000, seed=7))
        await stream.aclose()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the server gave up on the upload first
    reply: Reply = await client.reply()
    assert reply.first.startswith("452 No space left on device; transfer aborted"), reply
    [(_, spliced)] = uploads(handler)
    assert spliced == 0
    await stream.aclose()
    await client.aclose()


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted for the test (as root: the test using it says so)."""
    mountpoint = tmp_path / "tmpfs"
    mountpoint.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mountpoint)]
    subprocess.run(mount, capture_output=True, text=True, check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
async def test_a_full_disk_fails_a_spliced_upload_with_452(
    start_server: StartServer, tiny_tmpfs: Path
) -> None:
    handler = recording()
    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, str(tiny_tmpfs), perm="elradfmwMT")
    server = await start_server(authorizer=authorizer, dtp_handler=handler)
    sent = random_bytes(3 * 1024 * 1024, seed=10)  # three times the filesystem
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    stream = await client.pasv()
    assert (await client.cmd("STOR up.bin")).code in (125, 150)
    try:
        await stream.send_all(sent)
        await stream.aclose()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the server gave up on the upload first
    with trio.fail_after(10):
        reply = await client.reply()
    assert reply.first.startswith(
        "452 No space left on device; transfer aborted, partial file kept ("
    ), reply
    kept = (tiny_tmpfs / "up.bin").read_bytes()
    assert 0 < len(kept) <= 1024 * 1024
    assert kept == sent[: len(kept)]
    [(_, spliced)] = uploads(handler)
    assert spliced == len(kept)
    await stream.aclose()
    await client.aclose()


def read_only_fs() -> type[AbstractedFS]:
    """A filesystem whose upload files are opened read-only: every write fails (EBADF)."""

    def open_upload(self: AbstractedFS, filename: str, mode: str) -> Any:
        with open(filename, "ab"):
            pass
        return open(filename, "rb", buffering=0)  # an io.FileIO: spliceable

    return type("ReadOnlyFS", (AbstractedFS,), {"open_upload": open_upload})


async def test_a_failing_splice_into_the_file_is_a_451(start_server: StartServer) -> None:
    handler = recording()
    server = await start_server(abstracted_fs=read_only_fs(), dtp_handler=handler)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    stream = await client.pasv()
    assert (await client.cmd("STOR up.bin")).code in (125, 150)
    try:
        await stream.send_all(random_bytes(SIZE, seed=12))
        await stream.aclose()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the server gave up on the upload first
    with trio.fail_after(10):
        reply = await client.reply()
    assert reply.first.startswith("451 Bad file descriptor; transfer aborted"), reply
    assert (server.home / "up.bin").read_bytes() == b""
    [(received, spliced)] = uploads(handler)
    assert received > 0
    assert spliced == 0
    assert (await client.cmd("NOOP")).code == 200
    await stream.aclose()
    await client.aclose()


@pytest.mark.parametrize(("limit", "size"), [(64 * 1024, 256 * 1024), (10_000, 55_000)])
async def test_throttled_upload_is_spliced_at_the_limit(
    start_server: StartServer, autojump_clock: trio.testing.MockClock, limit: int, size: int
) -> None:
    handler = recording(ThrottledDTPHandler, read_limit=limit)
    server = await start_server(runner=InlineRunner(), dtp_handler=handler)
    sent = random_bytes(size, seed=8)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    stream = await client.pasv()
    assert (await client.cmd("NOOP")).code == 200
    start = trio.current_time()
    assert (await client.cmd("STOR up.bin")).code == 125
    await stream.send_all(sent)
    await stream.aclose()
    assert (await client.reply()).first == DONE
    assert trio.current_time() - start == pytest.approx(size / limit, rel=0.2)
    assert (server.home / "up.bin").read_bytes() == sent
    assert uploads(handler) == [(size, size)]
    await client.aclose()


async def test_abor_of_a_spliced_upload_keeps_every_byte(start_server: StartServer) -> None:
    handler = recording()
    server = await start_server(dtp_handler=handler)
    sent = random_bytes(SIZE, seed=9)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    stream = await start_stor(client, "up.bin", sent)
    await client.send("ABOR")
    with trio.fail_after(10):
        assert (await client.reply()).first.startswith("426 ")
        assert (await client.reply()).first == "226 ABOR command successful."
    assert (server.home / "up.bin").read_bytes() == sent
    assert uploads(handler) == [(SIZE, SIZE)]
    await stream.aclose()
    await client.aclose()


async def test_no_descriptor_leaks_after_many_uploads(start_server: StartServer) -> None:
    """Each upload's pipe is closed: completed, aborted and reset uploads alike."""
    handler = recording()
    server = await start_server(dtp_handler=handler)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.stor("warm-up.bin", b"x")).first == DONE
    before = open_fds()
    for number in range(10):
        sent = random_bytes(100_000, seed=number)
        assert (await client.stor(f"done{number}.bin", sent)).first == DONE
        stream = await start_stor(client, f"aborted{number}.bin", sent)
        assert (await client.cmd("ABOR")).code == 426
        assert (await client.reply()).code == 226
        await stream.aclose()
        stream = await start_stor(client, f"reset{number}.bin", sent)
        reset(stream)
        with trio.fail_after(10):
            assert (await client.reply()).code in (426, 451)
        assert (server.home / f"reset{number}.bin").read_bytes() == sent
    assert all(spliced == received for received, spliced in uploads(handler))
    assert open_fds() <= before
    await client.aclose()


class CountingRunner:
    """Runs blocking calls inline, counting them."""

    def __init__(self) -> None:
        self.calls = 0
        self._inline = InlineRunner()

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        self.calls += 1
        return await self._inline.run(function, *args)


async def test_a_slow_client_costs_a_runner_call_per_batch_not_per_segment(
    start_server: StartServer,
) -> None:
    runner = CountingRunner()
    handler = recording()
    server = await start_server(runner=runner, dtp_handler=handler)
    sent = random_bytes(64 * 1000, seed=11)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    stream = await client.pasv()
    assert (await client.cmd("NOOP")).code == 200
    assert (await client.cmd("STOR up.bin")).code == 125
    calls = runner.calls
    for end in range(1000, len(sent) + 1, 1000):
        await stream.send_all(sent[end - 1000 : end])
        await wait_transmitted(client, end)  # the server took this piece alone
    await stream.aclose()
    assert (await client.reply()).first == DONE
    # One write of the pipe into the file, then flush, close and the session's
    # bookkeeping: not one call per piece.
    assert runner.calls - calls <= 8
    assert (server.home / "up.bin").read_bytes() == sent
    assert uploads(handler) == [(len(sent), len(sent))]
    await client.aclose()


def test_only_unwrapped_os_files_are_spliced(tmp_path: Path) -> None:
    path = tmp_path / "f"

    class CountingFileIO(io.FileIO):
        pass

    with open(path, "wb") as buffered, open(path, "wb", buffering=0) as raw:
        assert _splice.can_splice(buffered)
        assert _splice.can_splice(raw)
        assert not _splice.can_splice(HashingWriter(buffered, ["SHA-256"]))  # type: ignore[arg-type]
    with CountingFileIO(path, "w") as counting, io.BufferedWriter(counting) as over_counting:
        assert not _splice.can_splice(counting)
        assert not _splice.can_splice(over_counting)
    assert not _splice.can_splice(io.BytesIO())
