"""Short transfers: a small file read whole at open, a small listing in one runner call.

The bytes must be exactly those of the file (from a REST offset, in ASCII
mode converted), whichever path a download takes; the counting runner shows
how many blocking calls each transfer costs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.servers import RunningServer
from trioftp.session.commands.files import READ_AT_OPEN
from trioftp.session.runner import InlineRunner

StartServer = Callable[..., Any]


class CountingRunner:
    """Runs blocking calls inline, counting them."""

    def __init__(self) -> None:
        self.calls = 0
        self._inline = InlineRunner()

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        self.calls += 1
        return await self._inline.run(function, *args)


async def _counted_server(start_server: StartServer) -> tuple[RunningServer, CountingRunner]:
    runner = CountingRunner()
    return await start_server(runner=runner), runner


def _pattern(size: int) -> bytes:
    return bytes(range(251)) * (size // 251) + bytes(range(size % 251))


@pytest.mark.parametrize("size", [0, 1, 10240, READ_AT_OPEN, READ_AT_OPEN + 1, 3 * READ_AT_OPEN])
async def test_a_download_sends_exactly_the_file_whatever_its_size(
    start_server: StartServer, size: int
) -> None:
    server, _ = await _counted_server(start_server)
    content = _pattern(size)
    (server.home / "f.bin").write_bytes(content)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    data, reply = await client.retr("f.bin")
    assert (reply.code, data) == (226, content)
    await client.aclose()


async def test_a_small_download_costs_one_runner_call(start_server: StartServer) -> None:
    server, runner = await _counted_server(start_server)
    (server.home / "small.bin").write_bytes(_pattern(10240))
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    stream = await client.epsv()
    calls = runner.calls
    assert (await client.cmd("RETR small.bin")).code in (125, 150)
    data = b""
    while chunk := await stream.receive_some(65536):
        data += chunk
    await stream.aclose()
    assert (await client.reply()).code == 226
    assert data == _pattern(10240)
    assert runner.calls - calls == 1  # opened, read and closed at once
    await client.aclose()


@pytest.mark.parametrize("offset", [0, 1, 5000, 10239, 10240])
async def test_a_small_download_starts_at_the_rest_offset(
    start_server: StartServer, offset: int
) -> None:
    server, _ = await _counted_server(start_server)
    content = _pattern(10240)
    (server.home / "small.bin").write_bytes(content)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.cmd(f"REST {offset}")).code == 350
    data, reply = await client.retr("small.bin")
    assert (reply.code, data) == (226, content[offset:])
    await client.aclose()


async def test_a_small_download_past_its_end_is_refused(start_server: StartServer) -> None:
    server, _ = await _counted_server(start_server)
    (server.home / "small.bin").write_bytes(b"12345")
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.cmd("REST 6")).code == 350
    await client.pasv()
    reply = await client.cmd("RETR small.bin")
    assert reply.code == 554, reply
    await client.aclose()


async def test_a_small_ascii_download_ends_lines_in_crlf(start_server: StartServer) -> None:
    server, _ = await _counted_server(start_server)
    (server.home / "text.txt").write_bytes(b"one\ntwo\r\nthree\n\nlast")
    client = await server.client()
    assert (await client.cmd("TYPE A")).code == 200
    data, reply = await client.retr("text.txt")
    assert (reply.code, data) == (226, b"one\r\ntwo\r\nthree\r\n\r\nlast")
    await client.aclose()


async def test_a_small_download_is_called_back_as_any_other(start_server: StartServer) -> None:
    sent: list[str] = []

    async def on_file_sent(self: object, file: str) -> None:
        sent.append(file)

    server = await start_server(runner=InlineRunner(), on_file_sent=on_file_sent)
    (server.home / "small.bin").write_bytes(_pattern(100))
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    data, reply = await client.retr("small.bin")
    assert (reply.code, data) == (226, _pattern(100))
    assert (await client.cmd("NOOP")).code == 200  # the callback ran by now
    assert sent == [str((server.home / "small.bin").resolve())]
    await client.aclose()


async def test_a_small_listing_costs_one_runner_call(start_server: StartServer) -> None:
    server, runner = await _counted_server(start_server)
    for number in range(8):
        (server.home / f"file{number}.txt").write_bytes(b"x" * number)
    client = await server.client()
    stream = await client.epsv()
    calls = runner.calls
    assert (await client.cmd("LIST")).code in (125, 150)
    data = b""
    while chunk := await stream.receive_some(65536):
        data += chunk
    await stream.aclose()
    assert (await client.reply()).code == 226
    assert [line.split()[-1] for line in data.decode().splitlines()] == [
        f"file{number}.txt" for number in range(8)
    ]
    assert runner.calls - calls == 1
    await client.aclose()


async def test_a_listing_longer_than_a_chunk_is_sent_whole(start_server: StartServer) -> None:
    server = await start_server(runner=InlineRunner(), listing_chunk_size=100)
    names = [f"entry-{number:04d}.txt" for number in range(300)]
    for name in names:
        (server.home / name).touch()
    client = await server.client()
    listing, reply = await client.listing("NLST")
    assert reply.code == 226
    assert listing.split() == names
    status = await client.cmd("STAT .")
    assert status.code == 213
    assert [line.split()[-1] for line in status.lines[1:-1]] == names
    await client.aclose()
