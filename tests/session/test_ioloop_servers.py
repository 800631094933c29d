"""Servers and sessions on the ioloop: socket_map, callbacks on the server's run, anti-flood."""

from __future__ import annotations

import ftplib
import threading
from pathlib import Path
from typing import Any, ClassVar

import pytest
import trio
import trio.testing

import trioftp
from trioftp.handlers import FTPHandler
from trioftp.ioloop import IOLoop
from trioftp.servers import FTPServer

from ..support.ftpclient import FTPClient
from ..support.servers import PASSWORD, USER, make_handler, serve_in_thread


def sessions_of(loop: IOLoop, handler: type[FTPHandler]) -> list[FTPHandler]:
    return [owner for owner in list(loop.socket_map.values()) if isinstance(owner, handler)]


class Watched(FTPHandler):
    """Signals when sessions end (after they left the socket map)."""

    ended: ClassVar[threading.Semaphore]

    def on_disconnect(self) -> None:
        self.ended.release()


def test_socket_map_under_serve_forever_in_a_thread(home: Path) -> None:
    handler = make_handler(home, base=Watched, ended=threading.Semaphore(0))
    loop = IOLoop.factory()
    server = FTPServer(("127.0.0.1", 0), handler, ioloop=loop)
    assert loop.socket_map == {server.socket.fileno(): server}  # from the start, as in pyftpdlib
    with serve_in_thread(server, home) as running:
        first, second = ftplib.FTP(), ftplib.FTP()
        first.connect(running.host, running.port, timeout=10)
        second.connect(running.host, running.port, timeout=10)
        first.login(USER, PASSWORD)
        assert loop.socket_map[server.socket.fileno()] is server
        sessions = sessions_of(loop, handler)
        assert len(sessions) == 2
        assert {s.remote_port for s in sessions} == {
            first.sock.getsockname()[1],
            second.sock.getsockname()[1],
        }
        assert all(s.ioloop is loop and s.server is server for s in sessions)
        (logged_in,) = [s for s in sessions if s.authenticated]
        assert logged_in.username == USER
        first.quit()
        assert handler.ended.acquire(timeout=10)
        assert [s.remote_port for s in sessions_of(loop, handler)] == [second.sock.getsockname()[1]]
        second.close()
        assert handler.ended.acquire(timeout=10)
        assert sessions_of(loop, handler) == []
    assert loop.socket_map == {}


async def test_socket_map_under_serve_in_a_nursery(
    nursery: trio.Nursery, home: Path, mock_clock: trio.testing.MockClock
) -> None:
    handler = make_handler(home, base=Watched, ended=threading.Semaphore(0))
    loop = IOLoop.instance()
    host, port = await nursery.start(trioftp.serve, handler, "127.0.0.1", 0)
    servers = [o for o in loop.socket_map.values() if isinstance(o, FTPServer)]
    assert [s.address for s in servers if s.handler is handler] == [(host, port)]
    client, greeting = await FTPClient.connect(host, port)
    assert greeting.code == 220
    assert (await client.login(USER, PASSWORD)).code == 230
    (session,) = sessions_of(loop, handler)
    assert session.ioloop is loop
    assert session.remote_port == client.stream.socket.getsockname()[1]
    assert (await client.cmd("QUIT")).code == 221
    with trio.fail_after(10):
        assert await client.at_eof()
    assert sessions_of(loop, handler) == []  # it left before closing the connection
    await client.aclose()
    nursery.cancel_scope.cancel()


def test_calls_from_another_thread_run_on_the_servers_thread(home: Path) -> None:
    loop = IOLoop.factory()
    server = FTPServer(("127.0.0.1", 0), make_handler(home), ioloop=loop)
    done = threading.Event()
    ran_in: list[threading.Thread] = []

    def record() -> None:
        ran_in.append(threading.current_thread())
        done.set()

    loop.call_later(0, lambda: 1 // 0)  # scheduled before serving; fails; logged
    with serve_in_thread(server, home) as running:
        loop.call_later(0, record)
        assert done.wait(10)
        assert ran_in[0] is not threading.current_thread()
        assert ran_in[0].is_alive()  # the server's thread, still serving
        with ftplib.FTP() as ftp:  # the failed callback took nothing down
            ftp.connect(running.host, running.port, timeout=10)
            ftp.login(USER, PASSWORD)
            assert ftp.voidcmd("NOOP").startswith("200")


# --- a handler written for pyftpdlib: counts commands with process_command,
# checks the count every second with ioloop.call_every, bans floods.


class FloodBanning(FTPHandler):
    """Over *cmds_per_second* commands in a second: banned, then refused at connect."""

    cmds_per_second = 10
    banned_ips: ClassVar[list[str]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        FTPHandler.__init__(self, *args, **kwargs)
        self.processed_cmds = 0
        self.pcmds_callback = self.ioloop.call_every(1, self.check_processed_cmds)

    def on_connect(self) -> None:
        if self.remote_ip in self.banned_ips:
            self.respond("550 You are banned.")
            self.close_when_done()

    def check_processed_cmds(self) -> None:
        if self.processed_cmds > self.cmds_per_second:
            self.ban(self.remote_ip)
        else:
            self.processed_cmds = 0

    def process_command(self, *args: Any, **kwargs: Any) -> None:
        self.processed_cmds += 1
        FTPHandler.process_command(self, *args, **kwargs)

    def ban(self, ip: str) -> None:
        if ip not in self.banned_ips:
            self.log(f"banned IP {ip} for command flooding")
        self.respond("550 You are banned for 3600 seconds.")
        self.close()
        self.banned_ips.append(ip)

    def close(self) -> None:
        FTPHandler.close(self)
        if not self.pcmds_callback.cancelled:
            self.pcmds_callback.cancel()


async def test_anti_flood_handler(
    nursery: trio.Nursery, home: Path, mock_clock: trio.testing.MockClock
) -> None:
    (home / "a.txt").write_bytes(b"abc")
    handler = make_handler(home, base=FloodBanning, banned_ips=[])
    loop = IOLoop.instance()
    host, port = await nursery.start(trioftp.serve, handler, "127.0.0.1", 0)

    calm, _ = await FTPClient.connect(host, port)
    assert (await calm.login(USER, PASSWORD)).code == 230
    assert (await calm.cmd("TYPE I")).code == 200
    assert (await calm.cmd("SIZE a.txt")).first == "213 3"  # async ftp_SIZE, through the hook
    assert (await calm.cmd("MKD made")).code == 257
    assert (home / "made").is_dir()
    (calm_session,) = sessions_of(loop, handler)
    assert calm_session.processed_cmds == 5  # USER, PASS, TYPE, SIZE, MKD
    mock_clock.jump(1)
    await trio.testing.wait_all_tasks_blocked()
    assert calm_session.processed_cmds == 0  # the check ran, and reset the count

    flood, _ = await FTPClient.connect(host, port)
    for _ in range(11):
        assert (await flood.cmd("NOOP")).code == 200
    mock_clock.jump(1)
    with trio.fail_after(10):
        assert await flood.at_eof()  # closed by the ban (its 550 may be lost, as in pyftpdlib)
    assert handler.banned_ips == ["127.0.0.1"]  # type: ignore[attr-defined]
    assert calm_session.pcmds_callback.cancelled is False

    again, reply = await FTPClient.connect(host, port)
    assert reply.first == "550 You are banned."
    with trio.fail_after(10):
        assert await again.at_eof()
    assert (await calm.cmd("NOOP")).code == 200  # the others go on
    assert (await calm.cmd("QUIT")).code == 221
    with trio.fail_after(10):
        assert await calm.at_eof()
    assert sessions_of(loop, handler) == []
    assert calm_session.pcmds_callback.cancelled  # close() ran as the session ended
    for client in (calm, flood, again):
        await client.aclose()
    nursery.cancel_scope.cancel()


@pytest.mark.parametrize("style", ["sync", "async"])
async def test_process_command_can_veto_and_await(
    start_server: Any, home: Path, style: str, mock_clock: trio.testing.MockClock
) -> None:
    seen: list[tuple[str, tuple[object, ...]]] = []

    def sync_hook(self: FTPHandler, cmd: str, *args: Any, **kwargs: Any) -> None:
        seen.append((cmd, args))
        if cmd == "DELE":
            self.respond("550 Not today.")
            return
        FTPHandler.process_command(self, cmd, *args, **kwargs)

    async def async_hook(self: FTPHandler, cmd: str, *args: Any, **kwargs: Any) -> None:
        seen.append((cmd, args))
        if cmd == "DELE":
            self.respond("550 Not today.")
            return
        result = FTPHandler.process_command(self, cmd, *args, **kwargs)
        if result is not None:
            await result

    (home / "keep.txt").write_bytes(b"x")
    server = await start_server(process_command=sync_hook if style == "sync" else async_hook)
    client = await server.client()
    assert (await client.cmd("DELE keep.txt")).first == "550 Not today."
    assert (home / "keep.txt").exists()
    assert (await client.cmd("RMD nothere")).code == 550
    assert (await client.cmd("MKD sub")).code == 257
    assert (home / "sub").is_dir()
    assert [cmd for cmd, _ in seen] == ["USER", "PASS", "DELE", "RMD", "MKD"]
    assert seen[2][1] == (str(home / "keep.txt"),)  # a path argument arrives as a real path
    await client.aclose()


class ThreadRecording(FTPHandler):
    """At login, schedules a call that records the thread it runs on."""

    runs: ClassVar[list[tuple[int, threading.Thread, threading.Thread]]]
    done: ClassVar[threading.Semaphore]

    def on_login(self, username: str) -> None:
        here = threading.current_thread()
        self.ioloop.call_later(0, self.record, here)

    def record(self, scheduled_in: threading.Thread) -> None:
        self.runs.append((self.server.address[1], scheduled_in, threading.current_thread()))
        self.done.release()


def test_two_servers_in_two_threads_share_a_loop(home: Path) -> None:
    loop = IOLoop.factory()
    handler = make_handler(home, base=ThreadRecording, runs=[], done=threading.Semaphore(0))
    first = FTPServer(("127.0.0.1", 0), handler, ioloop=loop)
    second = FTPServer(("127.0.0.1", 0), handler, ioloop=loop)
    with serve_in_thread(first, home), serve_in_thread(second, home):
        for server in (first, second):
            with ftplib.FTP() as ftp:
                ftp.connect(*server.address, timeout=10)
                ftp.login(USER, PASSWORD)
                assert handler.done.acquire(timeout=10)
        assert {fd for fd in loop.socket_map} >= {first.socket.fileno(), second.socket.fileno()}
    runs = handler.runs  # type: ignore[attr-defined]
    assert [port for port, _, _ in runs] == [first.address[1], second.address[1]]
    # each callback ran on the thread of the server whose session scheduled it
    assert all(scheduled is ran for _, scheduled, ran in runs)
    assert runs[0][2] is not runs[1][2]
    assert loop.socket_map == {}


def test_loop_does_not_wait_for_a_server_it_does_not_serve(home: Path) -> None:
    loop = IOLoop.factory()
    server = FTPServer(("127.0.0.1", 0), make_handler(home), ioloop=loop)
    ran: list[bool] = []
    loop.call_later(0, ran.append, True)
    assert loop.loop() is None  # no dispatcher: returns at once, as pyftpdlib's with no socket
    assert ran == []
    server.close_all()
    assert loop.socket_map == {}
