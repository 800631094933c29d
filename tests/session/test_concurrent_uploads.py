"""Concurrent uploads to one name (default, in-place uploads): exactly one complete upload."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from ..support.ftpclient import wait_transmitted
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

    def count_refusal() -> None:
        if sum(text.startswith("450") for text in replies.values()) == UPLOADS - 1:
            refused.set()

    async def upload(i: int) -> None:
        client = await server.client()
        assert (await client.cmd("TYPE I")).code == 200
        data_stream = await client.pasv()
        preliminary = await client.cmd("STOR same.bin")
        if preliminary.code == 450:  # refused before the transfer started
            replies[i] = preliminary.first
            count_refusal()
            await data_stream.aclose()
            await client.aclose()
            return
        assert preliminary.code in (125, 150)

        async def final_reply() -> None:
            replies[i] = (await client.reply()).first
            count_refusal()

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
    # Refused before the 150 (the common case), or after it when two
    # sessions raced between the check and the open: either way, with 450.
    busy = {
        "450 File busy: another upload to it is in progress.",
        "450 File busy: another upload to it is in progress; transfer aborted.",
    }
    losers = [text for i, text in replies.items() if i not in winners]
    assert len(losers) == UPLOADS - 1
    assert set(losers) <= busy


async def test_an_upload_in_progress_refuses_stor_appe_and_rest_before_150(
    start_server: Callable[..., Awaitable[RunningServer]], home: Path
) -> None:
    server = await start_server()
    first = await server.client()
    assert (await first.cmd("TYPE I")).code == 200
    data_stream = await first.pasv()
    assert (await first.cmd("STOR busy.bin")).code in (125, 150)
    await data_stream.send_all(b"first part ")
    await wait_transmitted(first, 11)  # its file is open (and locked): bytes arrived

    other = await server.client()
    assert (await other.cmd("TYPE I")).code == 200
    busy = "450 File busy: another upload to it is in progress."
    for command in ("STOR busy.bin", "APPE busy.bin"):
        other_stream = await other.pasv()
        assert (await other.cmd(command)).first == busy
        await other_stream.aclose()
    assert (await other.cmd("REST 3")).code == 350
    assert (await other.cmd("STOR busy.bin")).first == busy
    assert (await other.cmd("ABOR")).code == 225  # closes the PASV endpoint left open

    await data_stream.send_all(b"and the rest")
    await data_stream.aclose()
    assert (await first.reply()).first == "226 Transfer complete."
    assert (home / "busy.bin").read_bytes() == b"first part and the rest"
    # Free again: the next upload replaces it.
    assert (await other.stor("busy.bin", b"second")).first == "226 Transfer complete."
    assert (home / "busy.bin").read_bytes() == b"second"
    await first.aclose()
    await other.aclose()
