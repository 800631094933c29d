"""Transfers over real loopback sockets: RETR, STOR, APPE, STOU, REST, TYPE A, listings."""

from __future__ import annotations

import grp
import os
import pwd
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import trio

from trioftp.dtp import DTPHandler
from trioftp.filesystems import AbstractedFS

from ..support.ftpclient import Connector, FTPClient, Reply, active_ipv4, read_all, wait_transmitted
from ..support.servers import RunningServer

MODES = ["PASV", "EPSV", "PORT", "EPRT"]
OLD_MTIME = 1_000_000_000  # 2001-09-09 01:46:40 UTC
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
RETR_150 = "150 File status okay. About to open data connection."
RETR_125 = "125 Data connection already open. Transfer starting."
DONE = "226 Transfer complete."
NO_ENDPOINT = "425 Use PORT/EPRT or PASV/EPSV first."

StartServer = Callable[..., Awaitable[RunningServer]]


def random_bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


# --- data connection helpers


async def open_data(client: FTPClient, mode: str) -> Connector:
    """Prepare a data connection in *mode*; the result gives the connected stream
    (to be called once the transfer command has its preliminary reply)."""
    if mode in ("PORT", "EPRT"):
        return await active_ipv4(client, mode)
    stream = await (client.pasv() if mode == "PASV" else client.epsv())

    async def connected() -> trio.SocketStream:
        return stream

    return connected


async def download(client: FTPClient, mode: str, command: str) -> tuple[Reply, bytes, Reply]:
    connect = await open_data(client, mode)
    preliminary = await client.cmd(command)
    assert preliminary.code in (125, 150), preliminary
    data = await read_all(await connect())
    return preliminary, data, await client.reply()


async def upload(
    client: FTPClient, mode: str, command: str, data: bytes | list[bytes]
) -> tuple[Reply, Reply]:
    connect = await open_data(client, mode)
    preliminary = await client.cmd(command)
    assert preliminary.code in (125, 150), preliminary
    stream = await connect()
    for piece in [data] if isinstance(data, bytes) else data:
        await stream.send_all(piece)
    await stream.aclose()
    return preliminary, await client.reply()


# --- binary transfers in every mode


@pytest.mark.parametrize("mode", MODES)
async def test_retr_binary(server: RunningServer, client: FTPClient, mode: str) -> None:
    content = random_bytes(200_000)
    (server.home / "a.bin").write_bytes(content)
    assert (await client.cmd("TYPE I")).first == "200 Type set to: Binary."
    _, data, final = await download(client, mode, "RETR a.bin")
    assert data == content
    assert final.first == DONE


@pytest.mark.parametrize("mode", MODES)
async def test_stor_binary(server: RunningServer, client: FTPClient, mode: str) -> None:
    content = random_bytes(200_000) + b"\r\n\r"
    assert (await client.cmd("TYPE I")).code == 200
    preliminary, final = await upload(client, mode, "STOR up.bin", content)
    if mode in ("PORT", "EPRT"):
        assert preliminary.first == RETR_150
    assert final.first == DONE
    assert (server.home / "up.bin").read_bytes() == content


@pytest.mark.parametrize("mode", MODES)
async def test_appe_appends(server: RunningServer, client: FTPClient, mode: str) -> None:
    (server.home / "log.txt").write_bytes(b"first\n")
    assert (await client.cmd("TYPE I")).code == 200
    _, final = await upload(client, mode, "APPE log.txt", b"second\n")
    assert final.first == DONE
    _, final = await upload(client, mode, "APPE new.txt", b"created\n")
    assert final.first == DONE
    assert (server.home / "log.txt").read_bytes() == b"first\nsecond\n"
    assert (server.home / "new.txt").read_bytes() == b"created\n"


@pytest.mark.parametrize("mode", MODES)
async def test_stou_creates_unique_file(
    server: RunningServer, client: FTPClient, mode: str
) -> None:
    assert (await client.cmd("TYPE I")).code == 200
    content = random_bytes(10_000)
    preliminary, final = await upload(client, mode, "STOU", content)
    match = re.fullmatch(r"(?:125|150) FILE: (ftpd\.\S+)", preliminary.first)
    assert match, preliminary
    assert final.first == DONE
    assert os.listdir(server.home) == [match.group(1)]
    assert (server.home / match.group(1)).read_bytes() == content


async def test_stou_announces_name_on_125(server: RunningServer, client: FTPClient) -> None:
    """RFC 1123 4.1.2.9: the preliminary reply names the file, 125 as well as 150."""
    stream = await client.pasv()
    assert (await client.cmd("NOOP")).code == 200  # the server has accepted by now
    preliminary = await client.cmd("STOU")
    match = re.fullmatch(r"125 FILE: (ftpd\.\S+)", preliminary.first)
    assert match, preliminary
    await stream.send_all(b"data")
    await stream.aclose()
    assert (await client.reply()).first == DONE
    assert (server.home / match.group(1)).read_bytes() == b"data"


def names_tried(*names: str) -> type[AbstractedFS]:
    """A filesystem whose mkstemp tries exactly *names* for the random part."""

    class Named(AbstractedFS):
        def unique_names(self) -> Iterator[str]:
            return iter(names)

    return Named


async def test_stou_with_name_never_overwrites(start_server: StartServer) -> None:
    server = await start_server(abstracted_fs=names_tried("taken", "fresh"))
    (server.home / "a.txt").write_bytes(b"original")
    (server.home / "a.txt.taken").write_bytes(b"also original")
    client = await server.client()
    # The first candidate name is taken: mkstemp must move on to the next one.
    assert (await client.cmd("TYPE I")).code == 200
    preliminary, final = await upload(client, "PASV", "STOU a.txt", b"uploaded")
    assert preliminary.text == "FILE: a.txt.fresh"
    assert final.first == DONE
    assert (server.home / "a.txt").read_bytes() == b"original"
    assert (server.home / "a.txt.taken").read_bytes() == b"also original"
    assert (server.home / "a.txt.fresh").read_bytes() == b"uploaded"
    await client.aclose()


async def test_stou_out_of_unique_names_is_450(start_server: StartServer) -> None:
    server = await start_server(abstracted_fs=names_tried("taken"))
    (server.home / "ftpd.taken").write_bytes(b"original")
    client = await server.client()
    stream = await client.pasv()
    assert (await client.cmd("STOU")).first == "450 No usable unique file name found."
    await stream.aclose()
    assert os.listdir(server.home) == ["ftpd.taken"]
    await client.aclose()
    assert (server.home / "ftpd.taken").read_bytes() == b"original"


async def test_stou_refused_while_rest_pending(server: RunningServer, client: FTPClient) -> None:
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.cmd("REST 10")).code == 350
    assert (await client.cmd("STOU")).first == "450 Can't STOU while REST request is pending."
    assert os.listdir(server.home) == []


async def test_stor_replaces_existing_file(server: RunningServer, client: FTPClient) -> None:
    (server.home / "f.txt").write_bytes(b"a much longer original content\n")
    assert (await client.cmd("TYPE I")).code == 200
    _, final = await upload(client, "PASV", "STOR f.txt", b"short")
    assert final.first == DONE
    assert (server.home / "f.txt").read_bytes() == b"short"


async def test_stor_empty_upload_truncates(server: RunningServer, client: FTPClient) -> None:
    (server.home / "f.txt").write_bytes(b"old")
    assert (await client.cmd("TYPE I")).code == 200
    _, final = await upload(client, "EPSV", "STOR f.txt", b"")
    assert final.first == DONE
    assert (server.home / "f.txt").read_bytes() == b""


async def test_stor_clean_eof_ends_file(server: RunningServer, client: FTPClient) -> None:
    """A half-close (FIN) of the data connection ends the upload with 226."""
    assert (await client.cmd("TYPE I")).code == 200
    stream = await client.pasv()
    assert (await client.cmd("STOR eof.bin")).code in (125, 150)
    await stream.send_all(b"x" * 1000)
    await stream.send_eof()
    assert (await client.reply()).first == DONE
    assert await stream.receive_some(10) == b""  # the server closed its side too
    await stream.aclose()
    assert (server.home / "eof.bin").read_bytes() == b"x" * 1000


# --- TYPE A


@pytest.mark.parametrize("mode", ["PASV", "PORT"])
async def test_retr_ascii_converts_lf_to_crlf(
    server: RunningServer, client: FTPClient, mode: str
) -> None:
    (server.home / "unix.txt").write_bytes(b"one\ntwo\n\nthree")
    (server.home / "dos.txt").write_bytes(b"one\r\ntwo\r\nmixed\nend\r\n")
    assert (await client.cmd("TYPE A")).first == "200 Type set to: ASCII."
    _, data, final = await download(client, mode, "RETR unix.txt")
    assert (data, final.first) == (b"one\r\ntwo\r\n\r\nthree", DONE)
    _, data, final = await download(client, mode, "RETR dos.txt")
    assert (data, final.first) == (b"one\r\ntwo\r\nmixed\r\nend\r\n", DONE)


async def test_retr_ascii_crlf_split_between_disk_reads(
    start_server: StartServer,
) -> None:
    class TinyBlocks(DTPHandler):
        disk_block_size = 4

    server = await start_server(dtp_handler=TinyBlocks)
    # Blocks: b"abc\r" b"\ndef" b"\r\r\n\n" b"x\r"
    (server.home / "f.txt").write_bytes(b"abc\r\ndef\r\r\n\nx\r")
    client = await server.client()
    _, data, final = await download(client, "PASV", "RETR f.txt")
    assert data == b"abc\r\ndef\r\r\n\r\nx\r"
    assert final.first == DONE
    await client.aclose()


@pytest.mark.parametrize("mode", ["PASV", "EPRT"])
async def test_stor_ascii_converts_crlf_to_lf(
    server: RunningServer, client: FTPClient, mode: str
) -> None:
    assert (await client.cmd("TYPE A")).code == 200
    _, final = await upload(client, mode, "STOR a.txt", b"one\r\ntwo\r\nlone\rcr\nlf\r\nend\r")
    assert final.first == DONE
    # A lone CR and a bare LF are data; a CR at the very end is kept.
    assert (server.home / "a.txt").read_bytes() == b"one\ntwo\nlone\rcr\nlf\nend\r"


async def test_stor_ascii_cr_and_lf_in_different_sends(
    server: RunningServer, client: FTPClient
) -> None:
    assert (await client.cmd("TYPE A")).code == 200
    stream = await client.pasv()
    assert (await client.cmd("NOOP")).code == 200
    assert (await client.cmd("STOR split.txt")).first == RETR_125
    pieces = [b"line1\r", b"\nline2\r", b"x\r", b"\r\n"]
    sent = 0
    for piece in pieces:
        await stream.send_all(piece)
        sent += len(piece)
        # The server has received exactly this much: the next piece is a new receive.
        assert await wait_transmitted(client, sent) == sent
    await stream.aclose()
    assert (await client.reply()).first == DONE
    assert (server.home / "split.txt").read_bytes() == b"line1\nline2\rx\r\n"


async def test_appe_ascii(server: RunningServer, client: FTPClient) -> None:
    (server.home / "a.txt").write_bytes(b"old\n")
    assert (await client.cmd("TYPE A")).code == 200
    _, final = await upload(client, "PASV", "APPE a.txt", b"new\r\n")
    assert final.first == DONE
    assert (server.home / "a.txt").read_bytes() == b"old\nnew\n"


# --- big files: sendfile and buffered paths


@pytest.fixture
def sendfile_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count os.sendfile calls (the DTP looks it up on the os module)."""
    calls: list[int] = []
    real = os.sendfile

    def counting(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        calls.append(count)
        return real(out_fd, in_fd, offset, count)

    monkeypatch.setattr(os, "sendfile", counting)
    return calls


@pytest.mark.parametrize("use_sendfile", [True, False])
async def test_retr_multi_megabyte_random_file(
    start_server: StartServer, sendfile_calls: list[int], use_sendfile: bool
) -> None:
    server = await start_server(use_sendfile=use_sendfile)
    content = random_bytes(6 * 1024 * 1024 + 12_345, seed=1)
    (server.home / "big.bin").write_bytes(content)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    _, data, final = await download(client, "PASV", "RETR big.bin")
    assert len(data) == len(content)
    assert data == content
    assert final.first == DONE
    assert bool(sendfile_calls) is use_sendfile
    await client.aclose()


async def test_stor_multi_megabyte_random_file(server: RunningServer, client: FTPClient) -> None:
    content = random_bytes(5 * 1024 * 1024 + 7, seed=2)
    assert (await client.cmd("TYPE I")).code == 200
    chunks = [content[i : i + 300_000] for i in range(0, len(content), 300_000)]
    _, final = await upload(client, "EPSV", "STOR big.bin", chunks)
    assert final.first == DONE
    assert (server.home / "big.bin").read_bytes() == content


async def test_retr_ascii_ignores_sendfile(
    server: RunningServer, client: FTPClient, sendfile_calls: list[int]
) -> None:
    lines = b"".join(b"line %d\n" % i for i in range(200_000))
    (server.home / "lines.txt").write_bytes(lines)
    _, data, final = await download(client, "PASV", "RETR lines.txt")
    assert data == lines.replace(b"\n", b"\r\n")
    assert final.first == DONE
    assert sendfile_calls == []


# --- REST


@pytest.mark.parametrize("use_sendfile", [True, False])
async def test_rest_retr_starts_at_offset(start_server: StartServer, use_sendfile: bool) -> None:
    server = await start_server(use_sendfile=use_sendfile)
    content = random_bytes(100_000, seed=3)
    (server.home / "f.bin").write_bytes(content)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.cmd("REST 12345")).first == "350 Restarting at position 12345."
    _, data, final = await download(client, "PASV", "RETR f.bin")
    assert (data, final.first) == (content[12345:], DONE)
    # The marker is used up: the next RETR starts at 0.
    _, data, final = await download(client, "PASV", "RETR f.bin")
    assert (data, final.first) == (content, DONE)
    # REST at exactly the size sends nothing.
    assert (await client.cmd("REST 100000")).code == 350
    _, data, final = await download(client, "PASV", "RETR f.bin")
    assert (data, final.first) == (b"", DONE)
    await client.aclose()


async def test_rest_stor_writes_at_offset(server: RunningServer, client: FTPClient) -> None:
    (server.home / "part.bin").write_bytes(b"0123456789")
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.cmd("REST 4")).code == 350
    _, final = await upload(client, "PASV", "STOR part.bin", b"abc")
    assert final.first == DONE
    # Resume overwrites from the offset and keeps what lies beyond the new bytes.
    assert (server.home / "part.bin").read_bytes() == b"0123abc789"
    assert (await client.cmd("REST 10")).code == 350
    _, final = await upload(client, "PORT", "STOR part.bin", b"XYZ")
    assert final.first == DONE
    assert (server.home / "part.bin").read_bytes() == b"0123abc789XYZ"


async def test_rest_past_end_is_554(server: RunningServer, client: FTPClient) -> None:
    (server.home / "f.bin").write_bytes(b"0123456789")
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.cmd("REST 11")).code == 350
    stream = await client.pasv()
    reply = await client.cmd("RETR f.bin")
    assert reply.code == 554, reply
    assert (await client.cmd("REST 11")).code == 350
    reply = await client.cmd("STOR f.bin")
    assert reply.code == 554, reply
    assert (server.home / "f.bin").read_bytes() == b"0123456789"
    # The marker was used up by the refusals; the open endpoint still works.
    assert (await client.cmd("RETR f.bin")).code == 125
    assert await read_all(stream) == b"0123456789"
    assert (await client.reply()).first == DONE


@pytest.mark.parametrize("argument", ["abc", "-1", "1.5", "", "\uff11\uff12"])
async def test_rest_invalid_is_501(client: FTPClient, argument: str) -> None:
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.cmd(f"REST {argument}".rstrip())).code == 501


async def test_rest_refused_in_ascii_mode(client: FTPClient) -> None:
    assert (await client.cmd("TYPE A")).code == 200
    assert (await client.cmd("REST 10")).first == (
        "501 Resuming transfers not allowed in ASCII mode."
    )


async def test_rest_beyond_4_gib(server: RunningServer, client: FTPClient) -> None:
    offset = 5 * 1024**3 + 17
    with (server.home / "sparse.bin").open("wb") as file:
        file.truncate(offset)
        file.seek(offset)
        file.write(b"tail-bytes")
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.cmd(f"REST {offset}")).first == f"350 Restarting at position {offset}."
    _, data, final = await download(client, "EPSV", "RETR sparse.bin")
    assert (data, final.first) == (b"tail-bytes", DONE)


async def test_rest_beyond_4_gib_buffered(start_server: StartServer) -> None:
    server = await start_server(use_sendfile=False)
    offset = 4 * 1024**3 + 3
    with (server.home / "sparse.bin").open("wb") as file:
        file.truncate(offset)
        file.seek(offset)
        file.write(b"end")
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.cmd(f"REST {offset}")).code == 350
    _, data, final = await download(client, "PASV", "RETR sparse.bin")
    assert (data, final.first) == (b"end", DONE)
    await client.aclose()


# --- preliminary replies, missing data connections, pipelining


async def test_125_when_connected_before_retr(server: RunningServer, client: FTPClient) -> None:
    (server.home / "a.txt").write_bytes(b"abc")
    stream = await client.pasv()
    assert (await client.cmd("NOOP")).code == 200  # the accept has happened by now
    assert (await client.cmd("RETR a.txt")).first == RETR_125
    assert await read_all(stream) == b"abc"
    assert (await client.reply()).first == DONE


async def test_150_when_connecting_after_retr(server: RunningServer, client: FTPClient) -> None:
    (server.home / "a.txt").write_bytes(b"abc")
    reply = await client.cmd("PASV")
    port_bytes = re.search(r",(\d+),(\d+)\)", reply.text)
    assert port_bytes
    port = int(port_bytes.group(1)) * 256 + int(port_bytes.group(2))
    assert (await client.cmd("RETR a.txt")).first == RETR_150
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    assert await read_all(stream) == b"abc"
    assert (await client.reply()).first == DONE


@pytest.mark.parametrize(
    "command", ["RETR a.txt", "STOR a.txt", "APPE a.txt", "STOU", "LIST", "NLST", "MLSD"]
)
async def test_transfer_without_data_endpoint_is_425(
    server: RunningServer, client: FTPClient, command: str
) -> None:
    (server.home / "a.txt").write_bytes(b"keep me")
    with trio.fail_after(5):
        reply = await client.cmd(command)
    assert reply.first == NO_ENDPOINT
    assert (server.home / "a.txt").read_bytes() == b"keep me"
    assert os.listdir(server.home) == ["a.txt"]
    assert (await client.cmd("NOOP")).code == 200


async def test_endpoint_is_used_up_by_a_transfer(server: RunningServer, client: FTPClient) -> None:
    (server.home / "a.txt").write_bytes(b"abc")
    _, data, final = await download(client, "PASV", "RETR a.txt")
    assert (data, final.first) == (b"abc", DONE)
    with trio.fail_after(5):
        assert (await client.cmd("RETR a.txt")).first == NO_ENDPOINT
    _, final = await upload(client, "PORT", "STOR b.txt", b"b")
    assert final.first == DONE
    with trio.fail_after(5):
        assert (await client.cmd("STOR b.txt")).first == NO_ENDPOINT
    assert (server.home / "b.txt").read_bytes() == b"b"


async def test_retr_missing_file_is_550_and_endpoint_stays(
    server: RunningServer, client: FTPClient
) -> None:
    stream = await client.pasv()
    reply = await client.cmd("RETR missing.txt")
    assert reply.code == 550, reply
    (server.home / "now.txt").write_bytes(b"here")
    assert (await client.cmd("RETR now.txt")).code == 125
    assert await read_all(stream) == b"here"
    assert (await client.reply()).first == DONE


async def test_stor_into_missing_directory_is_550(server: RunningServer, client: FTPClient) -> None:
    stream = await client.pasv()
    reply = await client.cmd("STOR nodir/a.txt")
    assert reply.code == 550, reply
    reply = await client.cmd("STOR /")
    assert reply.code == 550, reply
    await stream.aclose()
    assert os.listdir(server.home) == []


async def test_commands_pipelined_behind_a_transfer_are_answered_in_order(
    server: RunningServer, client: FTPClient
) -> None:
    (server.home / "a.txt").write_bytes(b"abc")
    stream = await client.pasv()
    assert (await client.cmd("NOOP")).code == 200
    await client.send_raw(b"RETR a.txt\r\nTYPE I\r\nPWD\r\n")
    assert (await client.reply()).first == RETR_125
    assert await read_all(stream) == b"abc"
    assert (await client.reply()).first == DONE
    assert (await client.reply()).first == "200 Type set to: Binary."
    assert (await client.reply()).first == '257 "/" is the current directory.'


async def test_several_transfers_in_one_session(server: RunningServer, client: FTPClient) -> None:
    assert (await client.cmd("TYPE I")).code == 200
    for i, mode in enumerate(MODES * 2):
        content = random_bytes(1000 + i, seed=i)
        _, final = await upload(client, mode, f"STOR f{i}", content)
        assert final.first == DONE
        _, data, final = await download(client, mode, f"RETR f{i}")
        assert (data, final.first) == (content, DONE)


# --- callbacks


async def test_file_callbacks_get_absolute_paths(start_server: StartServer, home: Path) -> None:
    events: list[tuple[str, str]] = []
    server = await start_server(
        on_file_sent=lambda self, path: events.append(("sent", path)),
        on_file_received=lambda self, path: events.append(("received", path)),
        on_incomplete_file_sent=lambda self, path: events.append(("incomplete sent", path)),
        on_incomplete_file_received=lambda self, path: events.append(("incomplete recv", path)),
    )
    (home / "sub").mkdir()
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.cmd("CWD sub")).code == 250
    _, final = await upload(client, "PASV", "STOR up.bin", b"123")
    assert final.first == DONE
    assert events == [("received", str(home / "sub" / "up.bin"))]
    _, data, final = await download(client, "PORT", "RETR /sub/up.bin")
    assert (data, final.first) == (b"123", DONE)
    assert events[1:] == [("sent", str(home / "sub" / "up.bin"))]
    _, final = await upload(client, "EPSV", "APPE ../app.bin", b"4")
    assert events[2:] == [("received", str(home / "app.bin"))]
    preliminary, final = await upload(client, "EPRT", "STOU", b"5")
    name = preliminary.text.removeprefix("FILE: ")
    assert events[3:] == [("received", str(home / "sub" / name))]
    # Listings are not file transfers.
    await client.listing("LIST")
    assert len(events) == 4
    for _, path in events:
        assert os.path.isabs(path)
    await client.aclose()


# --- listings

LIST_LINE = re.compile(
    r"(?P<mode>[-dl][-rwxsStT]{9}) +(?P<nlink>\d+) (?P<owner>\S+) +(?P<group>\S+) +"
    r"(?P<size>\d+) (?P<date>\w{3} \d{2} (?: \d{4}|\d{2}:\d{2})) (?P<name>.*)"
)


def owner_group(path: Path) -> tuple[str, str]:
    st = path.stat()
    return pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name


def make_file(path: Path, data: bytes, mode: int = 0o640, mtime: float = OLD_MTIME) -> Path:
    path.write_bytes(data)
    os.chmod(path, mode)
    os.utime(path, (mtime, mtime))
    return path


def unique(path: Path) -> str:
    st = path.stat()
    return f"{st.st_dev:x}g{st.st_ino:x}"


async def test_list_exact_line(start_server: StartServer, home: Path) -> None:
    server = await start_server(use_gmt_times=True)
    old = make_file(home / "a.txt", b"hello")
    recent_time = int(time.time()) - 3600
    make_file(home / "recent.txt", b"x" * 123456, mode=0o604, mtime=recent_time)
    owner, group = owner_group(old)
    tm = time.gmtime(recent_time)
    recent_date = time.strftime("%d %H:%M", tm)
    month = MONTHS[tm.tm_mon - 1]
    client = await server.client()
    listing, final = await client.listing("LIST")
    assert final.first == DONE
    assert listing == (
        f"-rw-r-----   1 {owner:<8} {group:<8}        5 Sep 09  2001 a.txt\r\n"
        f"-rw----r--   1 {owner:<8} {group:<8}   123456 {month} {recent_date} recent.txt\r\n"
    )
    await client.aclose()


async def test_list_directory_and_symlink_lines(server: RunningServer, client: FTPClient) -> None:
    sub = server.home / "sub"
    sub.mkdir()
    os.chmod(sub, 0o750)
    os.utime(sub, (OLD_MTIME, OLD_MTIME))
    make_file(server.home / "target.txt", b"t")
    os.symlink(server.home / "target.txt", server.home / "link")
    listing, final = await client.listing("LIST")
    assert final.first == DONE
    lines = listing.splitlines()
    owner, group = owner_group(sub)
    size = sub.stat().st_size
    nlink = sub.stat().st_nlink
    assert lines[1] == f"drwxr-x--- {nlink:3d} {owner:<8} {group:<8} {size:8d} Sep 09  2001 sub"
    assert lines[0].startswith("lrwxrwxrwx ")
    assert lines[0].endswith(" link -> /target.txt")
    assert lines[2].endswith(" Sep 09  2001 target.txt")


@pytest.mark.parametrize("option", ["-la", "-a", "-l", "-al", "-la -l"])
async def test_list_options_are_not_paths(
    server: RunningServer, client: FTPClient, option: str
) -> None:
    make_file(server.home / ".hidden", b"h")
    make_file(server.home / "shown", b"s")
    listing, final = await client.listing("LIST", option)
    assert final.first == DONE
    names = [LIST_LINE.fullmatch(line).group("name") for line in listing.splitlines()]  # type: ignore[union-attr]
    assert names == [".hidden", "shown"]


async def test_list_options_then_path(server: RunningServer, client: FTPClient) -> None:
    (server.home / "sub").mkdir()
    make_file(server.home / "sub" / "inner.txt", b"i")
    make_file(server.home / "outer.txt", b"o")
    listing, final = await client.listing("LIST", "-la sub")
    assert final.first == DONE
    assert listing.endswith(" inner.txt\r\n")
    assert listing.count("\r\n") == 1


async def test_list_single_file(server: RunningServer, client: FTPClient) -> None:
    make_file(server.home / "a.txt", b"hello")
    make_file(server.home / "b.txt", b"other")
    owner, group = owner_group(server.home / "a.txt")
    listing, final = await client.listing("LIST", "a.txt")
    assert final.first == DONE
    assert listing == f"-rw-r-----   1 {owner:<8} {group:<8}        5 Sep 09  2001 a.txt\r\n"
    listing, final = await client.listing("NLST", "a.txt")
    assert (listing, final.first) == ("a.txt\r\n", DONE)


async def test_list_missing_path_is_550(client: FTPClient) -> None:
    _, reply = await client.listing("LIST", "missing")
    assert reply.code == 550, reply
    _, reply = await client.listing("NLST", "missing")
    assert reply.code == 550, reply


async def test_listings_show_hidden_files_and_names_with_spaces(
    server: RunningServer, client: FTPClient
) -> None:
    names = [" lead", ".hidden", "a  b.txt", "trail ", "ünï cödé"]
    for name in names:
        make_file(server.home / name, b"x")
    listing, final = await client.listing("LIST")
    assert final.first == DONE
    shown = [LIST_LINE.fullmatch(line).group("name") for line in listing.split("\r\n")[:-1]]  # type: ignore[union-attr]
    assert shown == sorted(names)
    listing, final = await client.listing("NLST")
    assert (listing, final.first) == ("".join(f"{n}\r\n" for n in sorted(names)), DONE)
    listing, final = await client.listing("MLSD")
    assert final.first == DONE
    assert [line.split("; ", 1)[1] for line in listing.split("\r\n")[:-1]] == sorted(names)


async def test_list_of_directory_with_spaces(server: RunningServer, client: FTPClient) -> None:
    (server.home / "my dir").mkdir()
    make_file(server.home / "my dir" / "in side.txt", b"x")
    listing, final = await client.listing("LIST", "my dir")
    assert final.first == DONE
    assert listing.endswith(" in side.txt\r\n")
    listing, final = await client.listing("NLST", "my dir")
    assert (listing, final.first) == ("in side.txt\r\n", DONE)


async def test_nlst_names_only(server: RunningServer, client: FTPClient) -> None:
    make_file(server.home / "b.txt", b"b")
    make_file(server.home / "a.txt", b"a")
    (server.home / "dir").mkdir()
    listing, final = await client.listing("NLST")
    assert (listing, final.first) == ("a.txt\r\nb.txt\r\ndir\r\n", DONE)


async def test_mlsd_lists_no_dot_entries_by_default(
    server: RunningServer, client: FTPClient
) -> None:
    make_file(server.home / "a.txt", b"hello")
    listing, final = await client.listing("MLSD")
    assert final.first == DONE
    assert [line.split("; ", 1)[1] for line in listing.splitlines()] == ["a.txt"]


async def test_mlsd_facts(start_server: StartServer) -> None:
    server = await start_server(mlsd_dot_entries=True)
    client = await server.client()
    a = make_file(server.home / "a.txt", b"hello")
    os.link(a, server.home / "hard.txt")
    c = make_file(server.home / "c.txt", b"other!")
    sub = server.home / "sub"
    sub.mkdir()
    os.utime(sub, (OLD_MTIME, OLD_MTIME))
    listing, final = await client.listing("MLSD")
    assert final.first == DONE
    lines = listing.split("\r\n")
    assert lines[-1] == ""
    assert lines[0].startswith("type=cdir;")
    assert lines[0].endswith("; .")
    assert lines[1].startswith("type=pdir;")
    assert lines[1].endswith("; ..")
    assert ";perm=elcmpdf;" in lines[0]
    assert lines[2:-1] == [
        f"type=file;size=5;modify=20010909014640;perm=rwadf;unique={unique(a)}; a.txt",
        f"type=file;size=6;modify=20010909014640;perm=rwadf;unique={unique(c)}; c.txt",
        f"type=file;size=5;modify=20010909014640;perm=rwadf;unique={unique(a)}; hard.txt",
        f"type=dir;size={sub.stat().st_size};modify=20010909014640;perm=elcmpdf;"
        f"unique={unique(sub)}; sub",
    ]
    assert unique(a) != unique(c)
    await client.aclose()


async def test_mlsd_perm_of_read_only_user(server: RunningServer) -> None:
    make_file(server.home / "a.txt", b"hello")
    (server.home / "sub").mkdir()
    client = await server.client(login=False)
    assert (await client.login("anonymous", "guest@example.com")).code == 230
    listing, final = await client.listing("MLSD")
    assert final.first == DONE
    perms = [re.search(r"perm=(\w*);", line).group(1) for line in listing.splitlines()]  # type: ignore[union-attr]
    assert perms == ["r", "el"]
    await client.aclose()


async def test_mlsd_unix_facts_after_opts(server: RunningServer, client: FTPClient) -> None:
    a = make_file(server.home / "a.txt", b"hello", mode=0o4750)
    listing, _ = await client.listing("MLSD")
    assert "unix." not in listing
    facts = "type;size;modify;perm;unique;unix.mode;unix.uid;unix.gid;"
    assert (await client.cmd(f"OPTS MLST {facts}")).first == f"200 MLST OPTS {facts}"
    st = a.stat()
    listing, final = await client.listing("MLSD")
    assert final.first == DONE
    assert listing.splitlines()[0] == (
        f"type=file;size=5;modify=20010909014640;perm=rwadf;unique={unique(a)};"
        f"unix.mode=4750;unix.uid={st.st_uid};unix.gid={st.st_gid}; a.txt"
    )
    assert (await client.cmd("OPTS MLST unix.mode;type;")).first == (
        "200 MLST OPTS type;unix.mode;"
    )
    listing, _ = await client.listing("MLSD")
    assert listing.splitlines()[0] == "type=file;unix.mode=4750; a.txt"


async def test_mlst_on_control_connection(server: RunningServer, client: FTPClient) -> None:
    a = make_file(server.home / "a.txt", b"hello")
    (server.home / "sub").mkdir()
    reply = await client.cmd("MLST a.txt")
    assert reply.code == 250
    assert reply.first.startswith("250-")
    assert reply.lines[1:] == (
        f" type=file;size=5;modify=20010909014640;perm=rwadf;unique={unique(a)}; /a.txt",
        "250 End MLST.",
    )
    assert (await client.cmd("CWD sub")).code == 250
    reply = await client.cmd("MLST")
    assert reply.lines[1].startswith(" type=dir;")
    assert reply.lines[1].endswith("; /sub")
    assert (await client.cmd("MLST missing")).code == 550


async def test_mlsd_on_a_file_is_501(server: RunningServer, client: FTPClient) -> None:
    make_file(server.home / "a.txt", b"hello")
    listing, reply = await client.listing("MLSD", "a.txt")
    assert (listing, reply.first) == ("", "501 Not a directory.")
    _, reply = await client.listing("MLSD", "missing")
    assert reply.first == "550 No such directory."


async def test_stat_with_path_lists_on_control(server: RunningServer, client: FTPClient) -> None:
    make_file(server.home / "a.txt", b"hello")
    owner, group = owner_group(server.home / "a.txt")
    reply = await client.cmd("STAT /")
    assert reply.lines == (
        '213-Status of "/":',
        f"-rw-r-----   1 {owner:<8} {group:<8}        5 Sep 09  2001 a.txt",
        "213 End of status.",
    )


@pytest.mark.parametrize("chunk_size", [1 << 20, 4096])  # 4 KiB: many runner calls
async def test_five_thousand_entries_list_completely(
    start_server: StartServer, chunk_size: int
) -> None:
    server = await start_server(listing_chunk_size=chunk_size)
    client = await server.client()
    names = sorted(f"file number {i:05d}.dat" for i in range(5000))
    for name in names:
        (server.home / name).touch()
    listing, final = await client.listing("LIST")
    assert final.first == DONE
    lines = listing.split("\r\n")
    assert lines.pop() == ""
    assert [LIST_LINE.fullmatch(line).group("name") for line in lines] == names  # type: ignore[union-attr]
    listing, final = await client.listing("NLST")
    assert (listing, final.first) == ("".join(f"{n}\r\n" for n in names), DONE)
    listing, final = await client.listing("MLSD")
    assert final.first == DONE
    assert [line.split("; ", 1)[1] for line in listing.splitlines()] == names


async def test_empty_directory_listings(server: RunningServer, client: FTPClient) -> None:
    for command in ("LIST", "NLST"):
        listing, final = await client.listing(command)
        assert (listing, final.first) == ("", DONE)
    (server.home / "empty").mkdir()
    for command in ("LIST", "NLST"):
        listing, final = await client.listing(command, "empty")
        assert (listing, final.first) == ("", DONE)
    listing, final = await client.listing("MLSD", "empty")
    assert (listing, final.first) == ("", DONE)


async def test_listing_in_active_mode(server: RunningServer, client: FTPClient) -> None:
    make_file(server.home / "a.txt", b"hello")
    for mode in ("PORT", "EPRT"):
        _, data, final = await download(client, mode, "NLST")
        assert (data, final.first) == (b"a.txt\r\n", DONE)
