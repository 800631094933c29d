"""MemoryFS (and FsspecFS over local files): a real filesystem in memory, through a server."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem

from trioftp.storage import FsspecFS, MemoryFS
from trioftp.storage.files import RangedReader

from ..support.ftpclient import FTPClient, wait_transmitted
from ..support.servers import RunningServer

StartServer = Callable[..., Awaitable[RunningServer]]
DONE = "226 Transfer complete."


async def connect(server: RunningServer) -> FTPClient:
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    return client


async def test_each_store_is_new_and_empty() -> None:
    first, second = MemoryFS.new_store(), MemoryFS.new_store()
    first.storage.pipe_file("/a.txt", b"a")
    assert first.storage.cat_file("/a.txt") == b"a"
    assert second.storage.ls("/", detail=False) == []


async def test_files_and_directories(start_server: StartServer) -> None:
    fs_class = MemoryFS.new_store()
    server = await start_server(abstracted_fs=fs_class)
    client = await connect(server)
    store = fs_class.storage
    assert (await client.cmd("MKD docs")).first == '257 "/docs" directory created.'
    assert (await client.stor("docs/a.txt", b"alpha")).first == DONE
    assert (await client.stor("docs/a.txt", b"+beta", command="APPE")).first == DONE
    assert store.cat_file("/docs/a.txt") == b"alpha+beta"
    assert (await client.cmd("REST 6")).code == 350
    data, reply = await client.retr("docs/a.txt")
    assert (data, reply.first) == (b"beta", DONE)
    # A store with real directories renames them too.
    assert (await client.cmd("RNFR docs")).code == 350
    assert (await client.cmd("RNTO papers")).first == "250 Renaming ok."
    assert store.cat_file("/papers/a.txt") == b"alpha+beta"
    listing, _ = await client.listing("NLST", "papers")
    assert listing == "a.txt\r\n"
    assert (await client.cmd("RMD papers")).first == "550 Directory not empty."
    assert (await client.cmd("DELE papers/a.txt")).first == "250 File removed."
    assert (await client.cmd("RMD papers")).first == "250 Directory removed."
    assert store.ls("/", detail=False) == []
    await client.aclose()


async def test_aborted_upload_is_never_seen(start_server: StartServer) -> None:
    fs_class = MemoryFS.new_store()
    fs_class.storage.pipe_file("/up.bin", b"old")
    server = await start_server(abstracted_fs=fs_class)
    client = await connect(server)
    stream = await client.pasv()
    assert (await client.cmd("STOR up.bin")).code == 125
    await stream.send_all(b"x" * 50_000)
    await wait_transmitted(client, 50_000)
    # Mid-upload, readers still see the previous content.
    other = await connect(server)
    assert (await other.retr("up.bin"))[0] == b"old"
    await client.send("ABOR")
    assert (await client.reply()).first == (
        "426 Transfer aborted, partial upload discarded (50000 bytes received)."
    )
    assert (await client.reply()).code == 226
    await stream.aclose()
    assert fs_class.storage.cat_file("/up.bin") == b"old"
    await client.aclose()
    await other.aclose()


class CountingMemory(MemoryFileSystem):  # type: ignore[misc]
    """A memory store that counts the metadata requests made of it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> Any:
        self.calls.append("ls")
        return super().ls(path, detail=detail, **kwargs)

    def info(self, path: str, **kwargs: Any) -> Any:
        self.calls.append("info")
        return super().info(path, **kwargs)


@pytest.mark.parametrize("command", ["LIST", "MLSD"])
async def test_a_listing_is_one_store_listing(start_server: StartServer, command: str) -> None:
    store = CountingMemory(global_store=False, skip_instance_cache=True)
    for number in range(50):
        store.pipe_file(f"/dir/file{number:02}.txt", b"x" * number)
    server = await start_server(abstracted_fs=FsspecFS.configured(store, "/"))
    client = await connect(server)
    store.calls.clear()
    listing, reply = await client.listing(command, "dir")
    assert reply.first == DONE
    assert len([line for line in listing.splitlines() if "file" in line]) == 50
    # One detailed ls for the 50 entries; the only info is the "is it a directory?" check.
    assert store.calls == ["info", "ls"]
    await client.aclose()


async def test_local_files_through_fsspec(start_server: StartServer, tmp_path: Path) -> None:
    root = tmp_path / "served"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f.txt").write_bytes(b"local")
    fs_class = FsspecFS.configured(LocalFileSystem(), str(root))
    server = await start_server(abstracted_fs=fs_class)
    client = await connect(server)
    assert (await client.retr("sub/f.txt"))[0] == b"local"
    assert (await client.stor("sub/g.txt", b"written")).first == DONE
    assert (root / "sub" / "g.txt").read_bytes() == b"written"
    assert (await client.cmd("MKD new")).code == 257
    assert (root / "new").is_dir()
    assert (await client.cmd("RNFR sub")).code == 350
    assert (await client.cmd("RNTO moved")).code == 250
    assert sorted(p.name for p in root.iterdir()) == ["moved", "new"]
    assert (await client.cmd("PWD")).first == '257 "/" is the current directory.'
    await client.aclose()


def test_unconfigured_class_says_how_to_configure() -> None:
    with pytest.raises(TypeError, match=r"use FsspecFS\.configured\(storage, root\)"):
        FsspecFS("/home/user", None)


def test_virtual_and_store_paths() -> None:
    store = MemoryFileSystem(global_store=False, skip_instance_cache=True)
    fs = FsspecFS.configured(store, "/base")("/home/ignored", None)
    assert fs.root == "/base"
    assert fs.ftp2fs("a/../../b") == "/base/b"
    assert fs.fs2ftp("/base/b/c") == "/b/c"
    assert fs.fs2ftp("/elsewhere") == "/"
    assert fs.validpath("/base/x")
    assert not fs.validpath("/base/../x")
    assert not fs.validpath("/basement")
    per_user = FsspecFS.configured(store, "/base", user_homes=True)("/home/alice", None)
    assert per_user.ftp2fs("/f") == "/base/home/alice/f"
    climbing = FsspecFS.configured(store, "/base", user_homes=True)("/../../etc", None)
    assert climbing.root == "/base/etc"


class BrokenStore(MemoryFileSystem):  # type: ignore[misc]
    """A store whose listing fails the way a network client does."""

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> Any:
        raise RuntimeError("endpoint unreachable")


async def test_store_failure_is_a_451_and_the_session_goes_on(start_server: StartServer) -> None:
    store = BrokenStore(global_store=False, skip_instance_cache=True)
    store.pipe_file("/f.txt", b"still readable")
    server = await start_server(abstracted_fs=FsspecFS.configured(store, "/"))
    client = await connect(server)
    assert (await client.cmd("STAT /")).first == "451 Input/output error."
    data, reply = await client.retr("f.txt")
    assert (data, reply.first) == (b"still readable", DONE)
    await client.aclose()


def test_downloads_are_never_sendfile_candidates() -> None:
    fs_class = MemoryFS.new_store()
    fs_class.storage.pipe_file("/f.bin", b"0123456789")
    fs = fs_class("/home", None)
    with fs.open(fs.ftp2fs("f.bin"), "rb") as file:
        with pytest.raises(io.UnsupportedOperation):
            file.fileno()  # the data channel sends it in blocks, never with sendfile(2)
        file.seek(4)
        assert file.read(3) == b"456"
        assert file.read() == b"789"
        assert file.read() == b""


class RefusingCommits(MemoryFileSystem):  # type: ignore[misc]
    """A store that takes an upload's bytes but fails to commit it."""

    def pipe_file(self, path: str, value: bytes, **kwargs: Any) -> None:
        raise PermissionError(13, "Permission denied")


async def test_failed_commit_is_the_final_reply(start_server: StartServer) -> None:
    store = RefusingCommits(global_store=False, skip_instance_cache=True)
    server = await start_server(abstracted_fs=MemoryFS.configured(store, "/"))
    client = await connect(server)
    reply = await client.stor("f.txt", b"never stored")
    assert reply.first == "451 Permission denied; transfer aborted."
    assert store.ls("/", detail=False) == []
    assert (await client.cmd("NOOP")).code == 200
    await client.aclose()


async def test_facts_after_a_listing_are_fresh(start_server: StartServer) -> None:
    fs_class = MemoryFS.new_store()
    fs_class.storage.pipe_file("/dir/only.txt", b"12")
    server = await start_server(abstracted_fs=fs_class)
    client = await connect(server)
    assert (await client.listing("NLST", "dir"))[0] == "only.txt\r\n"
    fs_class.storage.pipe_file("/dir/only.txt", b"12345")  # changed by someone else
    mlst = await client.cmd("MLST dir/only.txt")
    assert mlst.lines[1].startswith(" type=file;size=5;")
    await client.aclose()


@pytest.mark.parametrize(("block", "step"), [(7, 3), (3, 7), (100, 100), (1, 1), (64, 10)])
def test_ranged_reader_reads_every_byte_once(block: int, step: int) -> None:
    store = MemoryFileSystem(global_store=False, skip_instance_cache=True)
    data = bytes(range(100))
    store.pipe_file("/f", data)
    reader = RangedReader(store, "/f", len(data), block)
    pieces = []
    while piece := reader.read(step):
        assert len(piece) <= step
        pieces.append(piece)
    assert b"".join(pieces) == data
    assert reader.seek(95) == 95
    assert reader.read() == data[95:]
    assert reader.seek(-10, io.SEEK_END) == 90
    assert reader.read(4) == data[90:94]
