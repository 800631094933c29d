"""Timeouts, measured on Trio's MockClock: no test waits in real time.

The server runs its blocking calls inline (``InlineRunner``, no worker threads) and the client
is in the same Trio run over loopback, so the autojumping clock only moves
when every task is really waiting.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

from trioftp.dtp import ThrottledDTPHandler
from trioftp.handlers import FTPHandler
from trioftp.session.runner import InlineRunner

from ..support.ftpclient import read_all
from ..support.servers import RunningServer
from ..support.tlsclient import reset_connection

StartServer = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
def clock(autojump_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    return autojump_clock


async def test_idle_control_connection_gets_421_and_is_closed(
    start_server: StartServer, clock: trio.testing.MockClock
) -> None:
    server = await start_server(runner=InlineRunner(), timeout=60)
    client = await server.client()
    start = trio.current_time()
    reply = await client.reply()
    assert reply.first == "421 Control connection timed out."
    assert trio.current_time() - start == pytest.approx(60)
    assert await client.at_eof()


async def test_commands_reset_the_idle_timeout(
    start_server: StartServer, clock: trio.testing.MockClock
) -> None:
    server = await start_server(runner=InlineRunner(), timeout=60)
    client = await server.client()
    for _ in range(5):
        await trio.sleep(45)
        assert (await client.cmd("NOOP")).code == 200
    start = trio.current_time()
    assert (await client.reply()).code == 421
    assert trio.current_time() - start == pytest.approx(60)


async def test_idle_timeout_does_not_fire_during_a_long_transfer(
    start_server: StartServer, clock: trio.testing.MockClock
) -> None:
    class Slow(ThrottledDTPHandler):
        write_limit = 1000  # bytes per second: 10 kB take 10 s of Trio time

    server = await start_server(runner=InlineRunner(), timeout=3, dtp_handler=Slow)
    (server.home / "slow.bin").write_bytes(b"x" * 10_000)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    start = trio.current_time()
    data, reply = await client.retr("slow.bin")
    assert data == b"x" * 10_000
    assert reply.first == "226 Transfer complete."
    assert trio.current_time() - start >= 9
    # The idle clock starts again once the transfer is over.
    idle_start = trio.current_time()
    assert (await client.reply()).first == "421 Control connection timed out."
    assert trio.current_time() - idle_start == pytest.approx(3)


async def test_failed_login_is_delayed_for_that_session_only(
    start_server: StartServer, clock: trio.testing.MockClock
) -> None:
    server = await start_server(runner=InlineRunner(), auth_failed_timeout=5)
    guesser = await server.client(login=False)
    other = await server.client(login=False)
    assert (await guesser.cmd("USER user")).code == 331
    start = trio.current_time()
    await guesser.send("PASS wrong")
    # While the guesser waits, another session is answered at once.
    assert (await other.cmd("NOOP")).code == 200
    assert trio.current_time() == start
    assert (await guesser.reply()).first == "530 Authentication failed."
    assert trio.current_time() - start == pytest.approx(5)
    # A correct password is not delayed.
    login_start = trio.current_time()
    assert (await other.login()).code == 230
    assert trio.current_time() == login_start


async def test_passive_port_nobody_connects_to(
    start_server: StartServer, clock: trio.testing.MockClock
) -> None:
    server = await start_server(runner=InlineRunner(), data_connect_timeout=20)
    (server.home / "a.txt").write_bytes(b"data")
    client = await server.client()
    reply = await client.cmd("EPSV")
    assert reply.code == 229
    port = int(reply.text.split("|||")[1].split("|")[0])
    start = trio.current_time()
    assert (await client.cmd("RETR a.txt")).code == 150
    final = await client.reply()
    assert final.first == "425 Can't open data connection."
    assert trio.current_time() - start == pytest.approx(20)
    with pytest.raises(OSError, match="all attempts to connect"):
        await trio.open_tcp_stream("127.0.0.1", port)
    assert (await client.cmd("NOOP")).code == 200


async def test_passive_listener_closes_after_its_timeout_without_a_transfer(
    start_server: StartServer, clock: trio.testing.MockClock
) -> None:
    server = await start_server(runner=InlineRunner(), data_connect_timeout=20)
    client = await server.client()
    reply = await client.cmd("EPSV")
    port = int(reply.text.split("|||")[1].split("|")[0])
    await trio.sleep(21)
    with pytest.raises(OSError, match="all attempts to connect"):
        await trio.open_tcp_stream("127.0.0.1", port)
    # A transfer now has no connection to use: 150, then 425 at once.
    (server.home / "a.txt").write_bytes(b"data")
    start = trio.current_time()
    assert (await client.cmd("RETR a.txt")).code == 150
    assert (await client.reply()).code == 425
    assert trio.current_time() == start


@pytest.mark.parametrize("at_port", [True, False])
async def test_active_target_that_never_answers(
    start_server: StartServer, clock: trio.testing.MockClock, at_port: bool
) -> None:
    server = await start_server(
        runner=InlineRunner(), data_connect_timeout=15, active_connect_at_port=at_port
    )
    (server.home / "a.txt").write_bytes(b"data")
    client = await server.client()
    # A listener whose accept queue is full drops new SYNs: connecting to it hangs.
    black_hole = socket.socket()
    fillers: list[socket.socket] = []
    try:
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(0)
        port = black_hole.getsockname()[1]
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        start = trio.current_time()
        reply = await client.cmd(f"PORT 127,0,0,1,{port >> 8},{port & 255}")
        if at_port:
            assert reply.first == "425 Can't connect to specified address."
        else:
            assert reply.code == 200
            assert (await client.cmd("RETR a.txt")).code == 150
            assert (await client.reply()).first == "425 Can't open data connection."
        assert trio.current_time() - start == pytest.approx(15)
        assert (await client.cmd("NOOP")).code == 200
    finally:
        for filler in fillers:
            filler.close()
        black_hole.close()


async def test_quit_then_close_lets_the_transfer_finish(
    start_server: StartServer, clock: trio.testing.MockClock
) -> None:
    class Slow(ThrottledDTPHandler):
        write_limit = 10_000

    server = await start_server(runner=InlineRunner(), dtp_handler=Slow)
    payload = bytes(range(256)) * 200
    (server.home / "f.bin").write_bytes(payload)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    data_stream = await client.pasv()
    assert (await client.cmd("RETR f.bin")).code == 125
    await client.send("QUIT")
    await client.stream.send_eof()  # half-close: the client will send nothing more
    assert await read_all(data_stream) == payload
    assert (await client.reply()).first == "221 Goodbye."  # answered at once
    assert (await client.reply()).first == "226 Transfer complete."
    assert await client.at_eof()


async def test_eof_without_quit_ends_the_transfer(
    start_server: StartServer, clock: trio.testing.MockClock
) -> None:
    class Slow(ThrottledDTPHandler):
        write_limit = 1000

    sent: list[str] = []
    reported = trio.Event()

    class Recording(FTPHandler):
        def on_incomplete_file_sent(self, file: str) -> None:
            sent.append(file)
            reported.set()

    server = await start_server(base=Recording, runner=InlineRunner(), dtp_handler=Slow)
    (server.home / "f.bin").write_bytes(b"y" * 100_000)
    client = await server.client()
    assert (await client.cmd("TYPE I")).code == 200
    data_stream = await client.pasv()
    assert (await client.cmd("RETR f.bin")).code == 125
    start = trio.current_time()
    await client.stream.send_eof()
    received = await read_all(data_stream)
    await reported.wait()
    assert len(received) < 100_000
    assert trio.current_time() - start < 5
    assert sent == [str(server.home / "f.bin")]


async def test_a_reset_with_a_passive_listener_open_is_not_a_timeout(
    start_server: StartServer, clock: trio.testing.MockClock
) -> None:
    timed_out: list[int] = []

    class Recording(FTPHandler):
        async def handle_timeout(self) -> None:
            timed_out.append(self.remote_port)
            await super().handle_timeout()

    server = await start_server(base=Recording, runner=InlineRunner(), timeout=60)
    client = await server.client()
    assert (await client.cmd("EPSV")).code == 229  # a task in the session's nursery
    assert isinstance(client.stream, trio.SocketStream)
    reset_connection(client.stream)
    await trio.sleep(120)
    assert timed_out == []
    idle = await server.client()  # the idle timeout itself still calls it
    await trio.sleep(61)
    assert len(timed_out) == 1
    await idle.aclose()
