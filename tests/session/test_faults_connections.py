"""Connections broken in the middle of a transfer (plain and TLS); a file removed mid-download.

Each case asserts the final reply, the bytes on disk, the callbacks that
fired and that the server's descriptors are back to where they were. (The
plain data resets with their replies, ABOR, stalls and vanishing clients are
in ``test_abort_and_faults.py``; truncation mid-download is in
``test_data_integrity.py``.)
"""

from __future__ import annotations

import gc
import logging
import os
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

from trioftp.handlers import TLS_FTPHandler

from ..support.ftpclient import FTPClient, wait_transmitted
from ..support.servers import RunningServer
from ..support.tlsclient import Certs, TLSClient, client_context, make_certs, reset_connection

StartServer = Callable[..., Awaitable[RunningServer]]

SIZE = 24 * 1024 * 1024  # far more than the socket buffers hold
DONE = "226 Transfer complete."


def open_fds() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


class Hooks:
    """The transfer callbacks that fired, and an event for the session's end."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.disconnected = trio.Event()

    def attributes(self) -> dict[str, Any]:
        def record(kind: str) -> Callable[[Any, str], None]:
            return lambda _session, path: self.events.append((kind, os.path.basename(path)))

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


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


async def connect(
    start_server: StartServer, certs: Certs, hooks: Hooks, tls: bool
) -> tuple[RunningServer, FTPClient]:
    """A server (FTPS if *tls*) and a logged-in client in TYPE I (with PROT P if *tls*)."""
    if not tls:
        server = await start_server(**hooks.attributes())
        return server, await server.client()
    server = await start_server(
        base=TLS_FTPHandler, certfile=certs.certfile, keyfile=certs.keyfile, **hooks.attributes()
    )
    client, greeting = await TLSClient.open(server.host, server.port, client_context(certs.ca))
    assert greeting.code == 220
    await client.secure("P")
    return server, client


async def open_data(client: FTPClient, command: str) -> tuple[trio.SocketStream, trio.abc.Stream]:
    """PASV and *command*: the TCP stream and the stream to use (TLS on it for PROT P)."""
    assert (await client.cmd("TYPE I")).code == 200
    raw = await client.pasv()
    assert (await client.cmd("NOOP")).code == 200  # the server has accepted by now
    assert (await client.cmd(command)).code == 125
    if isinstance(client, TLSClient):
        return raw, await client.wrap_data(raw)
    return raw, raw


def control_transport(client: FTPClient) -> trio.SocketStream:
    """The TCP stream under *client*'s control connection (under TLS if any)."""
    stream = client.transport if isinstance(client, TLSClient) else client.stream
    assert isinstance(stream, trio.SocketStream)
    return stream


async def read_until_closed(stream: trio.abc.Stream) -> int:
    total = 0
    with trio.fail_after(20):
        try:
            while data := await stream.receive_some(1 << 20):
                total += len(data)
        except trio.BrokenResourceError:
            pass  # a TLS stream the server cut without close_notify
    return total


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


# --- the data connection reset by the client


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_data_reset_mid_download(
    start_server: StartServer, certs: Certs, hooks: Hooks, tls: bool
) -> None:
    fds = open_fds()
    server, client = await connect(start_server, certs, hooks, tls)
    (server.home / "big.bin").write_bytes(random.Random(0).randbytes(SIZE))
    raw, stream = await open_data(client, "RETR big.bin")
    assert await stream.receive_some(65536)
    reset_connection(raw)
    with trio.fail_after(10):
        final = await client.reply()
    assert final.first == "426 Connection closed; transfer aborted.", final
    assert hooks.events == [("incomplete sent", "big.bin")]
    assert (server.home / "big.bin").stat().st_size == SIZE
    assert (await client.cmd("NOOP")).code == 200
    await client.aclose()
    await hooks.wait_disconnect()
    assert open_fds() <= fds + 1  # + the server's listening socket


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_data_reset_mid_upload(
    start_server: StartServer, certs: Certs, hooks: Hooks, tls: bool
) -> None:
    fds = open_fds()
    server, client = await connect(start_server, certs, hooks, tls)
    sent = random.Random(1).randbytes(200_000)
    raw, stream = await open_data(client, "STOR up.bin")
    await stream.send_all(sent)
    await wait_transmitted(client, len(sent))
    reset_connection(raw)
    with trio.fail_after(10):
        final = await client.reply()
    assert final.first == (
        f"426 Connection closed; transfer aborted, partial file kept ({len(sent)} bytes received)."
    )
    assert (server.home / "up.bin").read_bytes() == sent
    assert hooks.events == [("incomplete received", "up.bin")]
    assert (await client.cmd("NOOP")).code == 200
    await client.aclose()
    await hooks.wait_disconnect()
    assert open_fds() <= fds + 1


# --- the control connection reset by the client, the data connection left open


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_control_reset_mid_download(
    start_server: StartServer,
    certs: Certs,
    hooks: Hooks,
    caplog: pytest.LogCaptureFixture,
    tls: bool,
) -> None:
    fds = open_fds()
    server, client = await connect(start_server, certs, hooks, tls)
    (server.home / "big.bin").write_bytes(random.Random(2).randbytes(SIZE))
    raw, stream = await open_data(client, "RETR big.bin")
    assert await stream.receive_some(65536)
    reset_connection(control_transport(client))
    await hooks.wait_disconnect()
    assert await read_until_closed(stream) < SIZE  # the server ended the download
    await raw.aclose()
    assert hooks.events == [("incomplete sent", "big.bin")]
    assert open_fds() <= fds + 1
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_control_reset_mid_upload(
    start_server: StartServer,
    certs: Certs,
    hooks: Hooks,
    caplog: pytest.LogCaptureFixture,
    tls: bool,
) -> None:
    fds = open_fds()
    server, client = await connect(start_server, certs, hooks, tls)
    sent = random.Random(3).randbytes(200_000)
    raw, stream = await open_data(client, "STOR up.bin")
    await stream.send_all(sent)
    await wait_transmitted(client, len(sent))
    reset_connection(control_transport(client))
    await hooks.wait_disconnect()
    assert await read_until_closed(stream) == 0  # the server closed the data connection
    await raw.aclose()
    # What arrived before the client vanished is kept, and reported incomplete.
    assert (server.home / "up.bin").read_bytes() == sent
    assert hooks.events == [("incomplete received", "up.bin")]
    assert open_fds() <= fds + 1
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


# --- a file removed while it is downloaded


@pytest.mark.parametrize("use_sendfile", [True, False])
async def test_file_removed_while_downloaded_is_sent_whole(
    start_server: StartServer, hooks: Hooks, use_sendfile: bool
) -> None:
    """Removing a name does not touch an open file (POSIX): the download
    goes on from the open descriptor and sends the file as it was, 226."""
    server = await start_server(use_sendfile=use_sendfile, **hooks.attributes())
    content = random.Random(4).randbytes(SIZE)
    (server.home / "big.bin").write_bytes(content)
    client = await server.client()
    _, stream = await open_data(client, "RETR big.bin")
    first = await stream.receive_some(65536)
    (server.home / "big.bin").unlink()
    rest = []
    with trio.fail_after(20):
        async with stream:
            while data := await stream.receive_some(1 << 20):
                rest.append(data)
    assert first + b"".join(rest) == content
    assert (await client.reply()).first == DONE
    assert hooks.events == [("sent", "big.bin")]
    assert not (server.home / "big.bin").exists()
    data, reply = await client.retr("big.bin")
    assert (data, reply.first) == (b"", "550 No such file or directory.")
    await client.aclose()


# --- the control connection reset while a reply streams


async def test_control_reset_during_a_streamed_stat(
    start_server: StartServer, hooks: Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    """A client gone in the middle of a long ``STAT dir`` is a disconnect, not a server error."""
    server = await start_server(**hooks.attributes())
    directory = server.home / "many"
    directory.mkdir()
    for index in range(5000):
        (directory / f"file-with-a-long-name-{index:05}.txt").touch()
    fds = open_fds()
    client = await server.client()
    await client.send("STAT many")
    assert (await client.read_line()) == 'Status of "/many":'.join(["213-", ""])
    reset_connection(client.stream)
    await hooks.wait_disconnect()
    assert open_fds() <= fds
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
