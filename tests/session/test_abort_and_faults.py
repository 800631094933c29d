"""ABOR in all its forms, QUIT mid-transfer, vanishing clients, disk errors, leaks, throttling."""

from __future__ import annotations

import errno
import gc
import io
import logging
import os
import random
import re
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

import pytest
import trio
import trio.testing

from trioftp.dtp import DTPHandler, ThrottledDTPHandler
from trioftp.filesystems import AbstractedFS
from trioftp.session.runner import InlineRunner

from ..support.ftpclient import FTPClient, Reply, read_all, wait_transmitted
from ..support.harness import MemorySession, SessionHarness
from ..support.servers import RunningServer

StartServer = Callable[..., Awaitable[RunningServer]]

DONE = "226 Transfer complete."
ABORTED = "426 Transfer aborted."
ABOR_OK = "226 ABOR command successful."
BIG = 64 * 1024 * 1024  # far more than the socket buffers hold


def random_bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def sparse_file(path: Path, size: int = BIG) -> Path:
    with path.open("wb") as file:
        file.truncate(size)
    return path


def open_fds() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


async def assert_refused(port: int, host: str = "127.0.0.1") -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with trio.socket.socket(family) as sock, pytest.raises(ConnectionRefusedError):
        await sock.connect((host, port))


def pasv_port(reply: Reply) -> int:
    match = re.search(r"\(\d+,\d+,\d+,\d+,(\d+),(\d+)\)", reply.text)
    assert match, reply
    return int(match.group(1)) * 256 + int(match.group(2))


async def start_stalled_retr(client: FTPClient, name: str) -> trio.SocketStream:
    """Start RETR of a big file over PASV without reading: the server blocks mid-file."""
    assert (await client.cmd("TYPE I")).code == 200
    stream = await client.pasv()
    assert (await client.cmd("NOOP")).code == 200  # the server has accepted by now
    assert (await client.cmd(f"RETR {name}")).code == 125
    await wait_transmitted(client, 1)
    return stream


async def start_stor(client: FTPClient, name: str, first: bytes) -> trio.SocketStream:
    """Start STOR and send *first*; return once the server has received it all."""
    assert (await client.cmd("TYPE I")).code == 200
    stream = await client.pasv()
    assert (await client.cmd("NOOP")).code == 200
    assert (await client.cmd(f"STOR {name}")).code == 125
    await stream.send_all(first)
    await wait_transmitted(client, len(first))
    return stream


async def drain(stream: trio.SocketStream) -> int:
    """Read a data connection to its end; return the byte count."""
    total = 0
    with trio.fail_after(10):
        async with stream:
            try:
                while data := await stream.receive_some(1 << 20):
                    total += len(data)
            except trio.BrokenResourceError:
                pass
    return total


def reset(stream: trio.SocketStream) -> None:
    """Close with a TCP RST instead of a FIN."""
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    stream.socket.close()


class Hooks:
    """Handler callbacks recording what happened, with an event for the disconnect."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.disconnected = trio.Event()

    def attributes(self) -> dict[str, Any]:
        def record(kind: str) -> Callable[[Any, str], None]:
            return lambda _session, path: self.events.append((kind, path))

        return {
            "on_file_sent": record("sent"),
            "on_file_received": record("received"),
            "on_incomplete_file_sent": record("incomplete sent"),
            "on_incomplete_file_received": record("incomplete received"),
            "on_disconnect": lambda _session: self.disconnected.set(),
        }

    async def wait_disconnect(self) -> None:
        with trio.fail_after(10):
            await self.disconnected.wait()


def recording_fs(opened: list[IO[bytes]]) -> type[AbstractedFS]:
    """An AbstractedFS that remembers every file object it hands out."""

    class RecordingFS(AbstractedFS):
        def open(self, filename: str, mode: str) -> Any:
            file = super().open(filename, mode)
            opened.append(file)
            return file

        def mkstemp(self, *args: Any, **kwargs: Any) -> Any:
            file = super().mkstemp(*args, **kwargs)
            opened.append(file)
            return file

    return RecordingFS


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


# --- ABOR


async def send_abor(client: FTPClient, how: str) -> None:
    if how == "plain":
        await client.send("ABOR")
    elif how == "telnet":
        await client.send_raw(b"\xff\xf4\xff\xf2ABOR\r\n")  # IAC IP, IAC DM (Synch), ABOR
    elif how == "urgent":
        await client.stream.socket.send(b"ABOR\r\n", socket.MSG_OOB)  # as ftplib does
    elif how == "stray-iac":  # IP and IAC in the wrong order, as urgent bytes (pyftpdlib's test)
        await client.stream.socket.send(b"\xf4", socket.MSG_OOB)
        await client.stream.socket.send(b"\xff", socket.MSG_OOB)
        await client.send_raw(b"abor\r\n")
    else:  # Telnet Synch the classic way: IAC IP, then IAC DM with DM as urgent data
        await client.send_raw(b"\xff\xf4\xff")
        await client.stream.socket.send(b"\xf2", socket.MSG_OOB)
        await client.send_raw(b"ABOR\r\n")


@pytest.mark.parametrize("how", ["plain", "telnet", "urgent", "telnet-urgent", "stray-iac"])
async def test_abor_during_retr(start_server: StartServer, hooks: Hooks, how: str) -> None:
    server = await start_server(**hooks.attributes())
    big = sparse_file(server.home / "big.bin")
    (server.home / "small.txt").write_bytes(b"after the abort")
    client = await server.client()
    stream = await start_stalled_retr(client, "big.bin")
    await send_abor(client, how)
    with trio.fail_after(10):
        assert (await client.reply()).first == ABORTED
        assert (await client.reply()).first == ABOR_OK
    assert await drain(stream) < BIG  # the server closed the data connection early
    assert hooks.events == [("incomplete sent", str(big))]
    # The session goes on.
    assert (await client.cmd("NOOP")).code == 200
    data, final = await client.retr("small.txt")
    assert (data, final.first) == (b"after the abort", DONE)
    await client.aclose()


async def test_abor_during_stor_keeps_the_received_bytes(
    start_server: StartServer, hooks: Hooks
) -> None:
    server = await start_server(**hooks.attributes())
    sent = random_bytes(300_000)
    client = await server.client()
    stream = await start_stor(client, "up.bin", sent)
    await client.send("ABOR")
    with trio.fail_after(10):
        assert (await client.reply()).first.startswith("426 ")
        assert (await client.reply()).first == ABOR_OK
    assert hooks.events == [("incomplete received", str(server.home / "up.bin"))]
    assert (server.home / "up.bin").read_bytes() == sent
    await stream.aclose()
    assert (await client.cmd("NOOP")).code == 200
    await client.aclose()


async def test_abor_without_transfer_is_225(client: FTPClient) -> None:
    assert (await client.cmd("ABOR")).first == "225 No transfer to abort."
    await send_abor(client, "stray-iac")
    assert (await client.reply()).first == "225 No transfer to abort."


async def test_abor_with_pasv_open_closes_the_port(client: FTPClient) -> None:
    port = pasv_port(await client.cmd("PASV"))
    assert (await client.cmd("ABOR")).first == "225 ABOR command successful; data channel closed."
    await assert_refused(port)
    assert (await client.cmd("LIST")).first == "425 Use PORT/EPRT or PASV/EPSV first."
    assert (await client.cmd("ABOR")).first == "225 No transfer to abort."


async def test_abor_with_connected_pasv_closes_it(client: FTPClient) -> None:
    stream = await client.pasv()
    assert (await client.cmd("NOOP")).code == 200
    assert (await client.cmd("ABOR")).code == 225
    assert await drain(stream) == 0
    assert (await client.cmd("LIST")).code == 425


async def test_abor_with_port_endpoint(client: FTPClient) -> None:
    with trio.socket.socket() as listener:
        await listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        assert (await client.cmd(f"PORT 127,0,0,1,{port >> 8},{port & 255}")).code == 200
        assert (await client.cmd("ABOR")).first == (
            "225 ABOR command successful; data channel closed."
        )
        assert (await client.cmd("NLST")).code == 425


# --- NOOP and QUIT during a transfer

NOOP_OK = "200 I successfully did nothing."


async def run_pipelined_after_retr(
    server: RunningServer, client: FTPClient, *commands: str
) -> list[Reply]:
    """Stall a 12 MiB RETR, send *commands*, drain the download; return the replies after 150."""
    content = random_bytes(12 * 1024 * 1024, seed=len(commands))
    (server.home / "big.bin").write_bytes(content)
    stream = await start_stalled_retr(client, "big.bin")
    for command in commands:
        await client.send(command)
    assert await read_all(stream) == content
    return [await client.reply() for _ in range(len(commands) + 1)]


class Slow(ThrottledDTPHandler):
    write_limit = 1000  # bytes per second: a 10 kB download takes 10 s of Trio time


async def slow_retr_on_memory_streams(session_harness: SessionHarness) -> MemorySession:
    """A session (memory streams, MockClock) whose RETR of 10 kB takes 10 mock seconds."""
    session = session_harness(dtp_handler=Slow)
    (session.home / "slow.bin").write_bytes(b"s" * 10_000)
    (session.home / "sub").mkdir()
    client = session.client
    assert (await client.reply()).code == 220
    assert (await client.login()).code == 230
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.cmd("PORT 127,0,0,1,19,136")).code == 200
    return session


async def test_noop_during_transfer_is_answered_at_once(
    session_harness: SessionHarness, autojump_clock: trio.testing.MockClock
) -> None:
    """A keep-alive NOOP gets its reply while the transfer still runs."""
    session = await slow_retr_on_memory_streams(session_harness)
    client = session.client
    assert (await client.cmd("RETR slow.bin")).code == 150
    data = await session.data_peers.receive()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_all, data)
        await trio.sleep(2)
        assert (await client.cmd("NOOP")).first == NOOP_OK
        assert trio.current_time() < 5  # long before the download's end
    assert (await client.reply()).first == DONE


async def test_noop_right_after_the_transfer_command_keeps_reply_order(
    session_harness: SessionHarness, autojump_clock: trio.testing.MockClock
) -> None:
    """Sooner than a keep-alive would come: pipelined, so answered after 226."""
    session = await slow_retr_on_memory_streams(session_harness)
    client = session.client
    await client.send("RETR slow.bin")
    await client.send("NOOP")
    assert (await client.reply()).code == 150
    assert await read_all(await session.data_peers.receive()) == b"s" * 10_000
    assert [(await client.reply()).first for _ in range(2)] == [DONE, NOOP_OK]


async def test_noop_after_a_held_command_keeps_reply_order(
    session_harness: SessionHarness, autojump_clock: trio.testing.MockClock
) -> None:
    session = await slow_retr_on_memory_streams(session_harness)
    client = session.client
    assert (await client.cmd("RETR slow.bin")).code == 150
    data = await session.data_peers.receive()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_all, data)
        await client.send("CWD sub")
        await trio.sleep(2)
        await client.send("NOOP")
    assert [(await client.reply()).first for _ in range(3)] == [
        DONE,
        '250 "/sub" is the current directory.',
        NOOP_OK,
    ]


async def test_quit_during_transfer_is_answered_at_once_and_lets_it_finish(
    server: RunningServer, client: FTPClient
) -> None:
    replies = await run_pipelined_after_retr(server, client, "QUIT")
    assert [reply.code for reply in replies] == [221, 226]
    assert replies[1].first == DONE
    assert await client.at_eof()


async def test_quit_held_during_transfer_when_so_configured(start_server: StartServer) -> None:
    server = await start_server(quit_answered_during_transfer=False)
    client = await server.client()
    replies = await run_pipelined_after_retr(server, client, "QUIT")
    assert [reply.code for reply in replies] == [226, 221]
    assert replies[0].first == DONE
    assert await client.at_eof()


async def test_quit_behind_a_held_command_keeps_reply_order(
    server: RunningServer, client: FTPClient
) -> None:
    (server.home / "sub").mkdir()
    replies = await run_pipelined_after_retr(server, client, "CWD sub", "QUIT")
    assert [reply.code for reply in replies] == [226, 250, 221]
    assert await client.at_eof()


async def test_commands_after_an_answered_quit_are_not_run(
    server: RunningServer, client: FTPClient
) -> None:
    first, rest = b"a" * 1000, random_bytes(3 * 1024 * 1024, seed=8)
    stream = await start_stor(client, "up.bin", first)
    await client.send("QUIT")
    assert (await client.reply()).code == 221
    await client.send("DELE up.bin")
    await stream.send_all(rest)
    await stream.aclose()
    assert (await client.reply()).first == DONE
    assert await client.at_eof()
    assert (server.home / "up.bin").read_bytes() == first + rest


async def test_quit_during_upload_lets_it_finish(server: RunningServer, client: FTPClient) -> None:
    first, rest = b"a" * 1000, random_bytes(3 * 1024 * 1024, seed=6)
    stream = await start_stor(client, "up.bin", first)
    await client.send("QUIT")
    assert (await client.reply()).code == 221
    await stream.send_all(rest)
    await stream.aclose()
    assert (await client.reply()).first == DONE
    assert await client.at_eof()
    assert (server.home / "up.bin").read_bytes() == first + rest


# --- clients that vanish


async def test_data_reset_mid_retr(start_server: StartServer, hooks: Hooks) -> None:
    server = await start_server(**hooks.attributes())
    big = sparse_file(server.home / "big.bin")
    client = await server.client()
    stream = await start_stalled_retr(client, "big.bin")
    reset(stream)
    with trio.fail_after(10):
        reply = await client.reply()
    assert reply.code == 426, reply
    assert hooks.events == [("incomplete sent", str(big))]
    assert (await client.cmd("NOOP")).code == 200
    await client.aclose()


async def test_data_reset_mid_stor(start_server: StartServer, hooks: Hooks) -> None:
    server = await start_server(**hooks.attributes())
    (server.home / "up.bin").write_bytes(b"previous content")
    client = await server.client()
    sent = random_bytes(100_000)
    stream = await start_stor(client, "up.bin", sent)
    reset(stream)
    with trio.fail_after(10):
        reply = await client.reply()
    assert reply.code in (426, 451), reply
    assert reply.text.endswith("partial file kept (100000 bytes received).")
    assert hooks.events == [("incomplete received", str(server.home / "up.bin"))]
    assert (server.home / "up.bin").read_bytes() == sent
    assert (await client.cmd("NOOP")).code == 200
    await client.aclose()


@pytest.mark.parametrize("command", ["RETR", "STOR"])
async def test_client_vanishes_mid_transfer(
    start_server: StartServer, hooks: Hooks, command: str
) -> None:
    server = await start_server(**hooks.attributes())
    big = sparse_file(server.home / "big.bin")
    client = await server.client()
    if command == "RETR":
        stream = await start_stalled_retr(client, "big.bin")
    else:
        stream = await start_stor(client, "big.bin", b"partial upload")
    reset(stream)
    reset(client.stream)
    await hooks.wait_disconnect()
    kind = "incomplete sent" if command == "RETR" else "incomplete received"
    assert hooks.events == [(kind, str(big))]
    if command == "STOR":  # what arrived before the client vanished is kept
        assert big.read_bytes() == b"partial upload"
    else:
        assert big.stat().st_size == BIG
    # Another client is served as usual.
    second = await server.client()
    reply = await second.stor("new.bin", b"second client")
    assert reply.first == DONE
    data, reply = await second.retr("new.bin")
    assert (data, reply.first) == (b"second client", DONE)
    await second.aclose()


# --- stalled data connections, on the mock clock


async def test_stalled_upload_times_out_keeping_the_bytes(
    start_server: StartServer, hooks: Hooks, autojump_clock: trio.testing.MockClock
) -> None:
    class Impatient(DTPHandler):
        timeout = 20

    server = await start_server(runner=InlineRunner(), dtp_handler=Impatient, **hooks.attributes())
    client = await server.client()
    stream = await start_stor(client, "up.bin", b"first part")
    start = trio.current_time()
    reply = await client.reply()  # the client sends nothing more
    assert reply.first == (
        "426 Data connection timed out; transfer aborted, partial file kept (10 bytes received)."
    )
    assert trio.current_time() - start == pytest.approx(20, abs=1)
    assert (server.home / "up.bin").read_bytes() == b"first part"
    assert hooks.events == [("incomplete received", str(server.home / "up.bin"))]
    await stream.aclose()
    await client.aclose()


async def test_stalled_download_times_out(
    start_server: StartServer, hooks: Hooks, autojump_clock: trio.testing.MockClock
) -> None:
    class Impatient(DTPHandler):
        timeout = 20

    server = await start_server(runner=InlineRunner(), dtp_handler=Impatient, **hooks.attributes())
    big = sparse_file(server.home / "big.bin")
    client = await server.client()
    stream = await start_stalled_retr(client, "big.bin")
    start = trio.current_time()
    reply = await client.reply()  # the client reads nothing
    assert reply.first == "426 Data connection timed out; transfer aborted."
    assert trio.current_time() - start == pytest.approx(20, abs=1)
    assert hooks.events == [("incomplete sent", str(big))]
    assert await drain(stream) < BIG
    await client.aclose()


# --- leaks


@pytest.fixture
def opened() -> list[IO[bytes]]:
    return []


async def test_no_leak_after_pasv_then_quit(start_server: StartServer, hooks: Hooks) -> None:
    server = await start_server(**hooks.attributes())
    before = open_fds()
    client = await server.client()
    port = pasv_port(await client.cmd("PASV"))
    assert (await client.cmd("QUIT")).code == 221
    assert await client.at_eof()
    await client.aclose()
    await hooks.wait_disconnect()
    await assert_refused(port)
    assert open_fds() <= before


async def test_no_leak_after_abor(
    start_server: StartServer, hooks: Hooks, opened: list[IO[bytes]]
) -> None:
    server = await start_server(abstracted_fs=recording_fs(opened), **hooks.attributes())
    sparse_file(server.home / "big.bin")
    before = open_fds()
    client = await server.client()
    stream = await start_stalled_retr(client, "big.bin")
    await client.send("ABOR")
    assert (await client.reply()).first == ABORTED
    assert (await client.reply()).first == ABOR_OK
    await drain(stream)
    assert len(opened) == 1
    assert opened[0].closed
    port = pasv_port(await client.cmd("PASV"))
    assert (await client.cmd("ABOR")).code == 225
    await assert_refused(port)
    await client.aclose()
    await hooks.wait_disconnect()
    assert open_fds() <= before


async def test_no_leak_after_control_dropped_mid_transfer(
    start_server: StartServer,
    hooks: Hooks,
    opened: list[IO[bytes]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="trioftp")
    server = await start_server(abstracted_fs=recording_fs(opened), **hooks.attributes())
    big = sparse_file(server.home / "big.bin")
    before = open_fds()
    client = await server.client()
    stream = await start_stalled_retr(client, "big.bin")
    await client.aclose()  # the control connection goes; the data connection stays
    await hooks.wait_disconnect()
    assert await drain(stream) < BIG  # the server closed the data connection
    assert [file.closed for file in opened] == [True]
    assert hooks.events == [("incomplete sent", str(big))]
    assert open_fds() <= before
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_control_dropped_while_a_finished_transfer_cleans_up(
    start_server: StartServer, hooks: Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    """The session ends while the data task still runs its (shielded) cleanup: no error."""
    dropped = trio.Event()
    sent: list[str] = []

    async def on_file_sent(_session: Any, path: str) -> None:
        sent.append(path)
        await dropped.wait()
        await trio.testing.wait_all_tasks_blocked()  # the session has seen the EOF by now

    server = await start_server(**{**hooks.attributes(), "on_file_sent": on_file_sent})
    (server.home / "a.txt").write_bytes(b"complete")
    client = await server.client()
    stream = await client.pasv()
    assert (await client.cmd("NOOP")).code == 200
    assert (await client.cmd("RETR a.txt")).code == 125
    assert await read_all(stream) == b"complete"
    await client.aclose()
    dropped.set()
    await hooks.wait_disconnect()
    assert sent == [str(server.home / "a.txt")]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_no_leak_after_control_dropped_with_pasv_open(
    start_server: StartServer, hooks: Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(**hooks.attributes())
    before = open_fds()
    client = await server.client()
    port = pasv_port(await client.cmd("PASV"))
    reset(client.stream)
    await hooks.wait_disconnect()
    await assert_refused(port)
    assert open_fds() <= before
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_no_leak_after_passive_timeout(
    start_server: StartServer,
    hooks: Hooks,
    opened: list[IO[bytes]],
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = await start_server(
        runner=InlineRunner(),
        abstracted_fs=recording_fs(opened),
        data_connect_timeout=30,
        **hooks.attributes(),
    )
    (server.home / "a.txt").write_bytes(b"never sent")
    before = open_fds()
    client = await server.client()
    port = pasv_port(await client.cmd("PASV"))
    start = trio.current_time()
    assert (await client.cmd("RETR a.txt")).first == (
        "150 File status okay. About to open data connection."
    )
    assert (await client.reply()).first == "425 Can't open data connection."
    assert trio.current_time() - start == pytest.approx(30, abs=1)
    await assert_refused(port)
    assert [file.closed for file in opened] == [True]
    assert hooks.events == [("incomplete sent", str(server.home / "a.txt"))]
    # A passive port nobody uses closes by itself, too.
    port = pasv_port(await client.cmd("PASV"))
    await trio.sleep(31)  # trio time, on the mock clock
    await assert_refused(port)
    assert (await client.cmd("NLST")).first.startswith("150 ")
    assert (await client.reply()).first == "425 Can't open data connection."
    await client.aclose()
    await hooks.disconnected.wait()
    assert open_fds() <= before


# --- disk errors


def failing_fs(error: int, where: str) -> type[AbstractedFS]:
    """Opening files for writing (or writing to them, or reading) fails with *error*."""

    class Broken(io.FileIO):
        def write(self, data: Any) -> int:
            raise OSError(error, os.strerror(error))

        def writelines(self, lines: Any) -> None:
            raise OSError(error, os.strerror(error))

        def read(self, size: int = -1) -> bytes:
            raise OSError(error, os.strerror(error))

    class FailingFS(AbstractedFS):
        def open(self, filename: str, mode: str) -> Any:
            writing = mode != "rb"
            if where == "open" and writing:
                raise OSError(error, os.strerror(error), filename)
            if where == "open-read" and not writing:
                raise OSError(error, os.strerror(error), filename)
            if (where == "write" and writing) or (where == "read" and not writing):
                return Broken(filename, mode)
            return super().open(filename, mode)

    return FailingFS


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (errno.ENOSPC, "452 No space left on device"),
        (errno.EACCES, "550 Permission denied"),
        (errno.EIO, "451 Input/output error"),
        (errno.EDQUOT, "552 Disk quota exceeded"),
    ],
)
async def test_stor_open_fails(start_server: StartServer, error: int, expected: str) -> None:
    server = await start_server(abstracted_fs=failing_fs(error, "open"))
    (server.home / "a.txt").write_bytes(b"untouched")
    client = await server.client()
    reply = await client.stor("a.txt", b"new content")
    assert reply.first.startswith(expected), reply
    assert (server.home / "a.txt").read_bytes() == b"untouched"
    assert (await client.cmd("NOOP")).code == 200
    await client.aclose()


@pytest.mark.parametrize("size", [100, 3 * 1024 * 1024])
async def test_stor_write_fails_with_no_space(start_server: StartServer, size: int) -> None:
    server = await start_server(abstracted_fs=failing_fs(errno.ENOSPC, "write"))
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    stream = await client.pasv()
    assert (await client.cmd("STOR a.txt")).code in (125, 150)
    try:
        await stream.send_all(random_bytes(size))
        await stream.aclose()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the server gave up on the upload first
    with trio.fail_after(10):
        reply = await client.reply()
    assert reply.first.startswith("452 No space left on device"), reply
    await stream.aclose()
    assert (await client.cmd("NOOP")).code == 200
    await client.aclose()


async def test_retr_open_fails(start_server: StartServer) -> None:
    server = await start_server(abstracted_fs=failing_fs(errno.EACCES, "open-read"))
    (server.home / "a.txt").write_bytes(b"secret")
    client = await server.client()
    data, reply = await client.retr("a.txt")
    assert (data, reply.first) == (b"", "550 Permission denied.")
    await client.aclose()


async def test_retr_read_fails(start_server: StartServer) -> None:
    server = await start_server(abstracted_fs=failing_fs(errno.EIO, "read"))
    (server.home / "a.txt").write_bytes(b"unreadable")
    client = await server.client()
    data, reply = await client.retr("a.txt")  # TYPE A: the buffered path reads
    assert data == b""
    assert reply.first.startswith("451 Input/output error"), reply
    await client.aclose()


# --- throttling, on the mock clock


@pytest.mark.parametrize(("limit", "size"), [(64 * 1024, 256 * 1024), (10_000, 55_000)])
async def test_throttled_download(
    start_server: StartServer, autojump_clock: trio.testing.MockClock, limit: int, size: int
) -> None:
    class Limited(ThrottledDTPHandler):
        write_limit = limit

    server = await start_server(runner=InlineRunner(), dtp_handler=Limited)
    content = random_bytes(size)
    (server.home / "f.bin").write_bytes(content)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    stream = await client.pasv()
    assert (await client.cmd("NOOP")).code == 200
    start = trio.current_time()
    assert (await client.cmd("RETR f.bin")).code == 125
    assert await read_all(stream) == content
    assert (await client.reply()).first == DONE
    elapsed = trio.current_time() - start
    assert elapsed == pytest.approx(size / limit, rel=0.2)
    await client.aclose()


@pytest.mark.parametrize(("limit", "size"), [(64 * 1024, 256 * 1024), (10_000, 55_000)])
async def test_throttled_upload(
    start_server: StartServer, autojump_clock: trio.testing.MockClock, limit: int, size: int
) -> None:
    class Limited(ThrottledDTPHandler):
        read_limit = limit

    server = await start_server(runner=InlineRunner(), dtp_handler=Limited)
    content = random_bytes(size)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    stream = await client.pasv()
    assert (await client.cmd("NOOP")).code == 200
    start = trio.current_time()
    assert (await client.cmd("STOR f.bin")).code == 125
    await stream.send_all(content)
    await stream.aclose()
    assert (await client.reply()).first == DONE
    elapsed = trio.current_time() - start
    assert elapsed == pytest.approx(size / limit, rel=0.2)
    assert (server.home / "f.bin").read_bytes() == content
    await client.aclose()


async def test_unthrottled_transfer_takes_no_trio_time(
    start_server: StartServer, autojump_clock: trio.testing.MockClock
) -> None:
    class Unlimited(ThrottledDTPHandler):
        read_limit = write_limit = 0

    server = await start_server(runner=InlineRunner(), dtp_handler=Unlimited)
    content = random_bytes(256 * 1024)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    start = trio.current_time()
    assert (await client.stor("f.bin", content)).first == DONE
    data, reply = await client.retr("f.bin")
    assert (data, reply.first) == (content, DONE)
    assert trio.current_time() - start < 1
    await client.aclose()
