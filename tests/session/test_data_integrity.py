"""Never 226 when the data may not be safe: a failed close, a file truncated mid-download."""

from __future__ import annotations

import errno
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from ..support.faults import faulty_fs
from ..support.ftpclient import FTPClient
from ..support.servers import RunningServer

StartServer = Callable[..., Awaitable[RunningServer]]

BIG = 64 * 1024 * 1024  # far more than the socket buffers hold


def recorder(events: list[tuple[str, str]]) -> dict[str, Any]:
    def record(kind: str) -> Callable[[Any, str], None]:
        return lambda _session, path: events.append((kind, os.path.basename(path)))

    return {
        "on_file_received": record("received"),
        "on_incomplete_file_received": record("incomplete received"),
        "on_file_sent": record("sent"),
        "on_incomplete_file_sent": record("incomplete sent"),
    }


@pytest.mark.parametrize(
    ("error", "reply"),
    [
        (
            OSError(errno.EIO, "Input/output error"),
            "451 Input/output error; transfer aborted.",
        ),
        (
            OSError(errno.ENOSPC, "No space left on device"),
            "452 No space left on device; transfer aborted.",
        ),
        (
            RuntimeError("storage client bug"),
            "451 Local error in processing; transfer aborted.",
        ),
    ],
)
async def test_upload_whose_close_fails_is_not_226(
    start_server: StartServer, error: BaseException, reply: str
) -> None:
    events: list[tuple[str, str]] = []
    server = await start_server(abstracted_fs=faulty_fs({"file.close": error}), **recorder(events))
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.stor("a.txt", b"hello")).first == reply
    assert (await client.cmd("NOOP")).code == 200
    await client.aclose()
    assert events == [("incomplete received", "a.txt")]


async def start_stalled_retr(client: FTPClient, name: str) -> trio.SocketStream:
    """RETR of a big file over PASV without reading: the server blocks mid-file."""
    stream = await client.pasv()
    assert (await client.cmd("NOOP")).code == 200  # the server has accepted by now
    assert (await client.cmd(f"RETR {name}")).code == 125
    with trio.fail_after(10):
        assert await stream.receive_some(1)  # the server is sending
    return stream


async def read_to_end(stream: trio.SocketStream) -> int:
    total = 0
    with trio.fail_after(20):
        async with stream:
            while data := await stream.receive_some(1 << 20):
                total += len(data)
    return total


@pytest.mark.parametrize(("mode", "use_sendfile"), [("I", True), ("I", False), ("A", False)])
async def test_file_truncated_while_downloaded_is_not_226(
    start_server: StartServer, home: Path, mode: str, use_sendfile: bool
) -> None:
    events: list[tuple[str, str]] = []
    server = await start_server(use_sendfile=use_sendfile, **recorder(events))
    path = server.home / "big.bin"
    with path.open("wb") as file:
        file.truncate(BIG)
    client = await server.client()
    assert (await client.cmd(f"TYPE {mode}")).code == 200
    stream = await start_stalled_retr(client, "big.bin")
    os.truncate(path, 1 << 20)  # far less than was already read or sent
    received = 1 + await read_to_end(stream)
    final = await client.reply()
    assert received < BIG
    assert final.code == 451, final
    assert final.first.startswith("451 File truncated during the transfer (")
    assert final.first.endswith(f"of {BIG} bytes); transfer aborted.")
    await client.aclose()
    assert events == [("incomplete sent", "big.bin")]


async def test_file_growing_while_downloaded_is_sent_whole(start_server: StartServer) -> None:
    """Growth is not damage: the client gets what the file holds when it reaches the end."""
    server = await start_server()
    path = server.home / "log.txt"
    path.write_bytes(b"x" * BIG)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    stream = await start_stalled_retr(client, "log.txt")
    with path.open("ab") as file:
        file.write(b"tail")
    assert await read_to_end(stream) == BIG + 4 - 1
    assert (await client.reply()).first == "226 Transfer complete."
    await client.aclose()
