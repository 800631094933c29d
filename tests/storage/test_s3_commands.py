"""FsspecFS over a real S3 API server (moto): each command through a real FTP server.

Users see ``bucket/data``; the tests seed and check objects with s3fs
directly, so each assertion is about what is really in the bucket.
"""

from __future__ import annotations

import calendar
import contextlib
import random
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

from trioftp.storage import FsspecFS

from ..support.ftpclient import FTPClient, wait_transmitted
from ..support.servers import RunningServer

DATA = random.Random(12).randbytes(300_000)
DONE = "226 Transfer complete."

Path = Callable[[str], str]


async def connect(server: RunningServer) -> FTPClient:
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    return client


@pytest.fixture
async def client(s3_server_ftp: RunningServer) -> FTPClient:
    return await connect(s3_server_ftp)


def uploads_in_progress(store: Any, bucket: str) -> list[str]:
    """Keys of the multipart uploads started and neither completed nor aborted."""
    listed = store.call_s3("list_multipart_uploads", Bucket=bucket)
    return [upload["Key"] for upload in listed.get("Uploads", [])]


async def start_stor(client: FTPClient, name: str, first: bytes) -> trio.SocketStream:
    """STOR *name*, send *first*, and return once the server has received it."""
    stream = await client.pasv()
    assert (await client.cmd(f"STOR {name}")).code == 125
    await stream.send_all(first)
    await wait_transmitted(client, len(first))
    return stream


# --- transfers


async def test_upload_then_download(client: FTPClient, s3fs_store: Any, data_path: Path) -> None:
    assert (await client.stor("file.bin", DATA)).first == DONE
    assert s3fs_store.cat_file(data_path("file.bin")) == DATA
    data, reply = await client.retr("file.bin")
    assert (data == DATA, reply.first) == (True, DONE)


async def test_download_resumes_at_rest_offset(
    client: FTPClient, s3fs_store: Any, data_path: Path
) -> None:
    s3fs_store.pipe_file(data_path("file.bin"), DATA)
    assert (await client.cmd("REST 123457")).code == 350
    data, reply = await client.retr("file.bin")
    assert reply.first == DONE
    assert data == DATA[123457:]
    assert (await client.cmd(f"REST {len(DATA) + 1}")).code == 350
    data, reply = await client.retr("file.bin")
    assert reply.code == 554


async def test_upload_resumes_at_the_end_only(
    client: FTPClient, s3fs_store: Any, data_path: Path
) -> None:
    s3fs_store.pipe_file(data_path("file.bin"), DATA[:1000])
    assert (await client.cmd("REST 1000")).code == 350
    assert (await client.stor("file.bin", DATA[1000:])).first == DONE
    assert s3fs_store.cat_file(data_path("file.bin")) == DATA
    # Below the end, a store would have to cut the object: refused, object untouched.
    assert (await client.cmd("REST 10")).code == 350
    reply = await client.stor("file.bin", b"new tail")
    assert reply.first == (
        "550 Resuming an upload before the end of the file is not supported by this storage;"
        " transfer aborted."
    )
    assert s3fs_store.cat_file(data_path("file.bin")) == DATA


async def test_appe_appends_and_creates(
    client: FTPClient, s3fs_store: Any, data_path: Path
) -> None:
    s3fs_store.pipe_file(data_path("log.txt"), b"one\n")
    assert (await client.stor("log.txt", b"two\n", command="APPE")).first == DONE
    assert (await client.stor("new.txt", b"first\n", command="APPE")).first == DONE
    assert s3fs_store.cat_file(data_path("log.txt")) == b"one\ntwo\n"
    assert s3fs_store.cat_file(data_path("new.txt")) == b"first\n"


async def test_stou_makes_a_new_object(client: FTPClient, s3fs_store: Any, data_path: Path) -> None:
    stream = await client.pasv()
    preliminary = await client.cmd("STOU")
    assert preliminary.code == 125
    name = preliminary.first.removeprefix("125 FILE: ")
    await stream.send_all(b"unique")
    await stream.aclose()
    assert (await client.reply()).first == DONE
    assert name.startswith("ftpd.")
    assert s3fs_store.cat_file(data_path(name)) == b"unique"


async def test_multipart_upload_in_parts(
    client: FTPClient, s3fs_store: Any, bucket: str, data_path: Path
) -> None:
    big = random.Random(5).randbytes(12 * 1024 * 1024 + 7)  # 3 parts of at most 5 MiB
    assert (await client.stor("big.bin", big)).first == DONE
    assert s3fs_store.cat_file(data_path("big.bin")) == big
    # A multipart object's ETag ends with its number of parts.
    assert s3fs_store.info(data_path("big.bin"))["ETag"].endswith('-3"')
    assert uploads_in_progress(s3fs_store, bucket) == []
    data, reply = await client.retr("big.bin")
    assert (data == big, reply.first) == (True, DONE)


async def test_abor_mid_upload_leaves_the_old_object(
    client: FTPClient, s3fs_store: Any, bucket: str, data_path: Path
) -> None:
    s3fs_store.pipe_file(data_path("big.bin"), b"previous version")
    stream = await start_stor(client, "big.bin", random.Random(1).randbytes(7 * 1024 * 1024))
    await client.send("ABOR")
    reply = await client.reply()
    assert reply.first == (
        "426 Transfer aborted, partial upload discarded (7340032 bytes received)."
    )
    assert (await client.reply()).first == "226 ABOR command successful."
    await stream.aclose()
    assert s3fs_store.cat_file(data_path("big.bin")) == b"previous version"
    assert uploads_in_progress(s3fs_store, bucket) == []


async def test_dropped_data_connection_leaves_no_object(
    client: FTPClient, s3fs_store: Any, bucket: str, data_path: Path
) -> None:
    stream = await start_stor(client, "new.bin", random.Random(2).randbytes(6 * 1024 * 1024))
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    stream.socket.close()  # a reset, not an end of file
    reply = await client.reply()
    assert reply.code == 426
    assert reply.first.endswith("partial upload discarded (6291456 bytes received).")
    assert not s3fs_store.exists(data_path("new.bin"))
    assert uploads_in_progress(s3fs_store, bucket) == []
    assert (await client.cmd("NOOP")).code == 200


# --- listings and facts from object metadata


@pytest.fixture
def seeded(s3fs_store: Any, data_path: Path) -> float:
    """a.txt (5 bytes) and sub/b.txt; returns a.txt's LastModified (epoch)."""
    s3fs_store.pipe_file(data_path("a.txt"), b"hello")
    s3fs_store.pipe_file(data_path("sub/b.txt"), b"world!")
    return float(s3fs_store.info(data_path("a.txt"))["LastModified"].timestamp())


async def test_list_mlsd_nlst(client: FTPClient, seeded: float) -> None:
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(seeded))
    listing, reply = await client.listing("LIST")
    assert reply.first == DONE
    when = time.strftime("%b %d %H:%M", time.gmtime(seeded))
    assert listing.splitlines() == [
        f"-rw-r--r--   1 owner    group           5 {when} a.txt",
        "drwxr-xr-x   1 owner    group           0 Jan 01  1970 sub",
    ]
    listing, _ = await client.listing("MLSD")
    lines = [line.split(";unique=")[0] for line in listing.splitlines()]
    assert lines == [
        f"type=file;size=5;modify={stamp};perm=rwadf",
        "type=dir;size=0;modify=19700101000000;perm=elcmpdf",
    ]
    assert listing.splitlines()[0].endswith(" a.txt")
    listing, _ = await client.listing("NLST")
    assert listing.splitlines() == ["a.txt", "sub"]
    listing, _ = await client.listing("LIST", "sub")
    assert listing.startswith("-rw-r--r--   1 owner    group           6 ")
    assert listing.endswith(" b.txt\r\n")


async def test_size_mdtm_mlst(client: FTPClient, seeded: float) -> None:
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(seeded))
    assert (await client.cmd("SIZE a.txt")).first == "213 5"
    assert (await client.cmd("MDTM a.txt")).first == f"213 {stamp}"
    assert calendar.timegm(time.strptime(stamp, "%Y%m%d%H%M%S")) == int(seeded)
    mlst = await client.cmd("MLST /sub/b.txt")
    assert mlst.lines[0] == "250-Listing /sub/b.txt"
    assert mlst.lines[1].startswith(" type=file;size=6;modify=")
    assert mlst.lines[1].endswith("; /sub/b.txt")
    assert (await client.cmd("SIZE sub")).first == '550 "/sub" is not retrievable.'
    assert (await client.cmd("SIZE none")).first == "550 No such file or directory."


# --- directories, renames, deletes


async def test_mkd_rmd_with_markers(client: FTPClient, s3fs_store: Any, data_path: Path) -> None:
    assert (await client.cmd("MKD new")).first == '257 "/new" directory created.'
    assert s3fs_store.exists(data_path("new/"))  # the marker object
    assert (await client.cmd("MKD new")).first == "550 File exists."
    assert (await client.cmd("MKD no/such")).first == "550 No such file or directory."
    assert (await client.cmd("CWD new")).code == 250
    assert (await client.stor("inside.txt", b"x")).first == DONE
    assert (await client.cmd("CWD /")).code == 250
    assert (await client.cmd("RMD new")).first == "550 Directory not empty."
    assert (await client.cmd("DELE new/inside.txt")).first == "250 File removed."
    assert (await client.cmd("RMD new")).first == "250 Directory removed."
    assert s3fs_store.find(data_path(""), withdirs=False) == []
    assert (await client.cmd("CWD new")).code == 550


async def test_directory_outlives_its_last_file(
    client: FTPClient, s3fs_store: Any, data_path: Path
) -> None:
    s3fs_store.pipe_file(data_path("only/file.txt"), b"x")  # no marker: a prefix only
    assert (await client.cmd("DELE only/file.txt")).first == "250 File removed."
    assert (await client.cmd("CWD only")).code == 250
    assert s3fs_store.exists(data_path("only/"))


async def test_rename_file_is_copy_and_delete(
    client: FTPClient, s3fs_store: Any, data_path: Path
) -> None:
    s3fs_store.pipe_file(data_path("a.txt"), b"hello")
    s3fs_store.pipe_file(data_path("dir/x.txt"), b"x")
    assert (await client.cmd("RNFR a.txt")).code == 350
    assert (await client.cmd("RNTO dir/b.txt")).first == "250 Renaming ok."
    assert s3fs_store.cat_file(data_path("dir/b.txt")) == b"hello"
    assert not s3fs_store.exists(data_path("a.txt"))
    assert (await client.cmd("RNFR dir")).code == 350
    assert (await client.cmd("RNTO moved")).first == (
        "550 Renaming a directory is not supported by this storage (no atomic rename)."
    )
    assert (await client.cmd("RNFR dir/b.txt")).code == 350
    assert (await client.cmd("RNTO no/such/c.txt")).first == "550 No such file or directory."
    assert (await client.cmd("DELE dir")).first == "550 Is a directory."
    assert (await client.cmd("DELE none")).first == "550 No such file or directory."


async def test_unsupported_commands_say_so(
    client: FTPClient, s3fs_store: Any, data_path: Path
) -> None:
    s3fs_store.pipe_file(data_path("a.txt"), b"hello")
    assert (await client.cmd("SITE CHMOD 600 a.txt")).first == (
        "550 SITE CHMOD is not supported by this storage."
    )
    assert (await client.cmd("MFMT 20200102030405 a.txt")).first == (
        "550 Setting modification times is not supported by this storage."
    )


# --- permissions and the jail


async def test_read_only_user(
    s3_server_ftp: RunningServer, s3fs_store: Any, data_path: Path
) -> None:
    s3fs_store.pipe_file(data_path("a.txt"), b"hello")
    client, _ = await FTPClient.connect(s3_server_ftp.host, s3_server_ftp.port)
    assert (await client.login("anonymous", "guest@")).code == 230
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.retr("a.txt"))[0] == b"hello"
    assert (await client.stor("b.txt", b"x")).first == "550 Not enough privileges."
    for line in ("DELE a.txt", "MKD d", "RNFR a.txt", "APPE a.txt"):
        assert (await client.cmd(line)).first == "550 Not enough privileges.", line
    assert s3fs_store.find(data_path("")) == [data_path("a.txt")]
    await client.aclose()


@pytest.mark.parametrize("path", ["../secret.txt", "/../secret.txt", "../../{bucket}/secret.txt"])
async def test_paths_never_leave_the_root(
    client: FTPClient, s3fs_store: Any, bucket: str, path: str
) -> None:
    s3fs_store.pipe_file(f"{bucket}/secret.txt", b"outside the root")
    data, reply = await client.retr(path.format(bucket=bucket))
    assert (data, reply.first) == (b"", "550 No such file or directory.")
    assert (await client.cmd("CWD ..")).code == 250
    assert (await client.cmd("PWD")).first == '257 "/" is the current directory.'
    assert (await client.cmd(f"DELE {path.format(bucket=bucket)}")).code == 550
    assert s3fs_store.cat_file(f"{bucket}/secret.txt") == b"outside the root"


async def test_nul_in_path_is_refused(client: FTPClient, s3fs_store: Any, data_path: Path) -> None:
    assert (await client.cmd(b"MKD a\x00b")).code == 501
    assert (await client.cmd(b"RETR a\x00b")).code == 501
    assert s3fs_store.find(data_path("")) == []


async def test_no_server_path_in_replies(
    start_server: Callable[..., Awaitable[RunningServer]], s3_fs_class: type[FsspecFS]
) -> None:
    server = await start_server(abstracted_fs=s3_fs_class)
    client = await connect(server)
    replies = [await client.cmd(line) for line in ("PWD", "MKD x", "CWD x", "STAT /", "RMD /")]
    text = "\n".join(str(reply) for reply in replies)
    assert str(server.home) not in text
    assert s3_fs_class.storage_root not in text
    await client.aclose()


async def test_object_replaced_mid_download_fails_it(
    start_server: Callable[..., Awaitable[RunningServer]],
    s3fs_store: Any,
    bucket: str,
    data_path: Path,
) -> None:
    old = random.Random(3).randbytes(12 * 1024 * 1024)
    s3fs_store.pipe_file(data_path("big.bin"), old)
    fs_class = FsspecFS.configured(s3fs_store, f"{bucket}/data", read_block_size=1 << 20)
    client = await connect(await start_server(abstracted_fs=fs_class))
    stream = await client.pasv()
    assert (await client.cmd("RETR big.bin")).code == 125
    first = await stream.receive_some(65536)  # the server is now held back by the socket
    s3fs_store.pipe_file(data_path("big.bin"), b"new version")
    received = first + await drain(stream)
    reply = await client.reply()
    assert reply.code == 451, reply
    assert reply.first.endswith("; transfer aborted.")
    assert old.startswith(received)  # only bytes of the version that was opened
    assert len(received) < len(old)


async def drain(stream: trio.SocketStream) -> bytes:
    chunks = []
    with trio.fail_after(30):
        async with stream:
            with contextlib.suppress(trio.BrokenResourceError):
                while data := await stream.receive_some(1 << 20):
                    chunks.append(data)
    return b"".join(chunks)
