"""Concurrent uploads to one name (default, in-place uploads): exactly one complete upload."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from ..support.servers import RunningServer

UPLOADS = 16
SIZE = 256 << 10


async def test_one_upload_wins_the_others_get_450(
    start_server: Callable[..., Awaitable[RunningServer]], home: Path
) -> None:
    server = await start_server()
    (home / "same.bin").write_bytes(b"old")
    contents = [bytes([65 + i]) * SIZE for i in range(UPLOADS)]
    replies: dict[int, str] = {}
    refused = trio.Event()

    async def upload(i: int) -> None:
        client = await server.client()
        assert (await client.cmd("TYPE I")).code == 200
        data_stream = await client.pasv()
        assert (await client.cmd("STOR same.bin")).code in (125, 150)

        async def final_reply() -> None:
            replies[i] = (await client.reply()).first
            if sum(text.startswith("450") for text in replies.values()) == UPLOADS - 1:
                refused.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(final_reply)
            with contextlib.suppress(trio.BrokenResourceError):
                await data_stream.send_all(contents[i][: SIZE // 2])
                # Every other upload is refused while this one is still open.
                await refused.wait()
                if i not in replies:
                    await data_stream.send_all(contents[i][SIZE // 2 :])
            await data_stream.aclose()
        await client.aclose()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for i in range(UPLOADS):
                nursery.start_soon(upload, i)

    winners = [i for i, text in replies.items() if text.startswith("226")]
    assert len(winners) == 1
    assert (home / "same.bin").read_bytes() == contents[winners[0]]
    busy = "450 File busy: another upload to it is in progress; transfer aborted."
    assert sorted(text for i, text in replies.items() if i not in winners) == [busy] * (UPLOADS - 1)
