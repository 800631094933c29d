"""The server-wide budget of transfer buffer memory (FTPServer.max_transfer_memory)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import trio
import trio.testing

from trioftp._upload import FIRST_BLOCK
from trioftp.dtp import DTPHandler
from trioftp.limits import MemoryBudget
from trioftp.servers import FTPServer, ThreadedFTPServer

from ..support.ftpclient import read_all
from ..support.servers import RunningServer, make_handler, serve_in_thread

T = TypeVar("T")
BLOCK = 64 << 10


class SmallBlocks(DTPHandler):
    disk_block_size = BLOCK


async def start_budgeted_server(
    nursery: trio.Nursery, home: Path, blocks: int
) -> tuple[FTPServer, RunningServer]:
    handler = make_handler(home, dtp_handler=SmallBlocks)
    server = FTPServer(("127.0.0.1", 0), handler)
    server.max_transfer_memory = blocks * BLOCK
    host, port = await nursery.start(server.serve)
    return server, RunningServer(host, port, handler, home)


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll the server's state (it runs in this test's run) for up to 10 seconds."""
    for _ in range(2000):
        if condition():
            return
        await trio.sleep(0.005)
    raise AssertionError("condition not reached")


async def test_uploads_wait_for_budget_while_others_are_served(
    nursery: trio.Nursery, home: Path
) -> None:
    server, running = await start_budgeted_server(nursery, home, blocks=2)
    budget = server.transfer_memory
    assert isinstance(budget, MemoryBudget)
    assert budget.capacity == 2 * BLOCK
    contents = {f"up{i}.bin": bytes([i]) * (5 * BLOCK + 1000 * i) for i in range(5)}
    finish = trio.Event()
    replies: dict[str, int] = {}

    async def slow_upload(name: str, data: bytes) -> None:
        client = await running.client()
        assert (await client.cmd("TYPE I")).code == 200
        data_stream = await client.pasv()
        assert (await client.cmd(f"STOR {name}")).code in (125, 150)
        await data_stream.send_all(data[:1000])  # then stall, holding its block
        await finish.wait()
        await data_stream.send_all(data[1000:])
        await data_stream.aclose()
        replies[name] = (await client.reply()).code
        await client.aclose()

    async with trio.open_nursery() as uploads:
        for name, data in contents.items():
            uploads.start_soon(slow_upload, name, data)
        # Two uploads hold a block each: the budget is spent, three wait.
        await wait_until(lambda: budget.in_use == budget.capacity and budget.waiting == 3)

        # Another client is served meanwhile: a listing, a download, an
        # ASCII download (buffered: it reads small pieces outside the budget).
        (home / "other.txt").write_bytes(b"line\n" * 50_000)
        other = await running.client()
        listing, reply = await other.listing()
        assert reply.code == 226
        assert "other.txt" in listing
        assert (await other.cmd("TYPE I")).code == 200
        data, reply = await other.retr("other.txt")
        assert reply.code == 226
        assert data == b"line\n" * 50_000
        assert (await other.cmd("TYPE A")).code == 200
        data, reply = await other.retr("other.txt")
        assert reply.code == 226
        assert data == b"line\r\n" * 50_000
        await other.aclose()
        assert budget.waiting == 3
        finish.set()

    assert replies == dict.fromkeys(contents, 226)
    for name, data in contents.items():
        assert (home / name).read_bytes() == data
    assert budget.peak == budget.capacity
    assert budget.in_use == 0


async def test_an_upload_that_stalls_at_once_holds_only_a_small_first_block(
    nursery: trio.Nursery, home: Path
) -> None:
    # Default blocks (4 MiB): the first block of each upload is FIRST_BLOCK.
    handler = make_handler(home)
    server = FTPServer(("127.0.0.1", 0), handler)
    server.max_transfer_memory = 4 * FIRST_BLOCK
    host, port = await nursery.start(server.serve)
    running = RunningServer(host, port, handler, home)
    finish = trio.Event()

    async def stalled_upload(name: str) -> None:
        client = await running.client()
        assert (await client.cmd("TYPE I")).code == 200
        data_stream = await client.pasv()
        assert (await client.cmd(f"STOR {name}")).code in (125, 150)
        await data_stream.send_all(b"first bytes")
        await finish.wait()
        await data_stream.aclose()
        assert (await client.reply()).first == "226 Transfer complete."
        await client.aclose()

    async with trio.open_nursery() as uploads:
        for i in range(5):
            uploads.start_soon(stalled_upload, f"s{i}.bin")
        budget = server.transfer_memory
        assert budget is not None
        # Four stalled uploads fit in a budget of one 4 MiB block; the fifth waits.
        await wait_until(lambda: budget.waiting == 1)
        assert budget.in_use == 4 * FIRST_BLOCK
        finish.set()
    for i in range(5):
        assert (home / f"s{i}.bin").read_bytes() == b"first bytes"
    assert budget.in_use == 0


async def test_no_budget_when_the_setting_is_zero(nursery: trio.Nursery, home: Path) -> None:
    handler = make_handler(home)
    server = FTPServer(("127.0.0.1", 0), handler)
    server.max_transfer_memory = 0
    host, port = await nursery.start(server.serve)
    assert server.transfer_memory is None
    client = await RunningServer(host, port, handler, home).client()
    assert (await client.stor("f.bin", b"x" * 100_000)).code == 226
    assert (home / "f.bin").read_bytes() == b"x" * 100_000
    await client.aclose()


# --- downloads: the read-ahead shrinks when the budget is short


class RecordingFile(io.BytesIO):
    """A file that records the size of every read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, size: int | None = -1, /) -> bytes:
        self.reads.append(-1 if size is None else size)
        return super().read(size)


class BudgetedChannel:
    """What a DTPHandler asks of its session: blocking calls inline, a budget."""

    use_sendfile = False
    bandwidth = None

    def __init__(self, budget: MemoryBudget) -> None:
        self.transfer_memory = budget

    async def run_blocking(self, function: Callable[..., T], *args: Any) -> T:
        return function(*args)


async def download_reads(budget: MemoryBudget, data: bytes) -> list[int]:
    sending, receiving = trio.testing.memory_stream_pair()
    file = RecordingFile(data)
    handler = DTPHandler(sending, BudgetedChannel(budget))  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        results: list[bytes] = []

        async def read() -> None:
            results.append(await read_all(receiving))

        nursery.start_soon(read)
        await handler.send_file(file)
        await handler.aclose()
    assert results == [data]
    return file.reads


async def test_a_download_reads_ahead_in_large_blocks_when_the_budget_has_room() -> None:
    budget = MemoryBudget(8 << 20)
    reads = await download_reads(budget, b"d" * (3 << 20))
    assert reads[:3] == [1 << 20] * 3
    assert budget.in_use == 0
    assert budget.peak >= 1 << 20


async def test_a_download_reads_small_pieces_when_the_budget_is_spent() -> None:
    budget = MemoryBudget(8 << 20)
    await budget.acquire(8 << 20)  # all held by uploads
    reads = await download_reads(budget, b"d" * (1 << 20))
    assert set(reads) == {64 << 10}
    assert len(reads) == 17  # 16 pieces and the empty read at the end
    assert budget.in_use == 8 << 20


# --- uploads: waiting for budget is not the client stalling


async def test_an_upload_waiting_for_budget_longer_than_the_timeout_is_not_stalled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    budget = MemoryBudget(4 * BLOCK)
    await budget.acquire(4 * BLOCK)  # held by other uploads
    client_end, server_end = trio.testing.memory_stream_pair()
    handler = SmallBlocks(server_end, BudgetedChannel(budget))  # type: ignore[arg-type]
    handler.timeout = 10
    file = io.BytesIO()
    data = b"u" * (3 * BLOCK + 5)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(handler.receive_file, file)
        await client_end.send_all(data)
        await client_end.aclose()
        await trio.sleep(60)  # six stall timeouts, waiting for budget
        assert budget.waiting == 1
        assert file.getvalue() == b""
        budget.release(4 * BLOCK)
    assert file.getvalue() == data
    assert budget.in_use == 0
    assert budget.peak == 4 * BLOCK


# --- the multi-thread model: one budget shared by sessions in separate Trio runs


def test_sessions_in_threads_share_the_budget(home: Path) -> None:
    handler = make_handler(home, dtp_handler=SmallBlocks)
    server = ThreadedFTPServer(("127.0.0.1", 0), handler)
    server.max_transfer_memory = BLOCK
    contents = {f"t{i}.bin": bytes([i]) * (2 * BLOCK + 7 * i) for i in range(3)}
    replies: dict[str, str] = {}
    seen: list[int] = []

    async def clients(target: RunningServer) -> None:
        finish = trio.Event()

        async def slow_upload(name: str, data: bytes) -> None:
            client = await target.client()
            assert (await client.cmd("TYPE I")).code == 200
            data_stream = await client.pasv()
            assert (await client.cmd(f"STOR {name}")).code in (125, 150)
            await data_stream.send_all(data[:100])
            await finish.wait()
            await data_stream.send_all(data[100:])
            await data_stream.aclose()
            replies[name] = (await client.reply()).first
            await client.aclose()

        async with trio.open_nursery() as nursery:
            for name, data in contents.items():
                nursery.start_soon(slow_upload, name, data)
            # One session holds the only block; the two others wait in their own runs.
            await wait_until(lambda: repr(server.transfer_memory).endswith(" 2 waiting>"))
            assert server.transfer_memory is not None
            seen.append(server.transfer_memory.in_use)
            finish.set()

    with serve_in_thread(server, home) as running:
        trio.run(clients, RunningServer(running.host, running.port, handler, home))
    assert seen == [BLOCK]
    assert replies == dict.fromkeys(contents, "226 Transfer complete.")
    for name, data in contents.items():
        assert (home / name).read_bytes() == data
    budget = server.transfer_memory
    assert budget is not None
    assert budget.peak == BLOCK
    assert budget.in_use == 0
