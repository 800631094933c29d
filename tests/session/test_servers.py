"""Server lifecycle: the listening socket, limits, stopping, signals, pre-fork, Trio-native serving.

Blocking ``serve_forever()`` runs in a thread (stopped with ``close()`` or
``close_all()`` from the test's thread) or, where signals or ``fork()`` are
involved, in a subprocess whose address is read from its stdout with a
deadline. Trio-native servers run in the test's nursery.
"""

from __future__ import annotations

import contextlib
import errno
import ftplib
import io
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import trio
import trio.testing

import trioftp
from trioftp.handlers import FTPHandler
from trioftp.servers import FTPServer

from ..support.ftpclient import FTPClient
from ..support.interop import assert_disconnected, assert_shut_down, download
from ..support.serverprocess import STARTUP_TIMEOUT, make_share, running
from ..support.servers import PASSWORD, USER, make_handler

GOODBYE = "221 Goodbye."
NOOP_OK = "200 I successfully did nothing."


# --- helpers


def assert_refused(host: str, port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, port), timeout=5).close()


async def assert_refused_async(host: str, port: int) -> None:
    with trio.socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        await sock.connect((host, port))


def ftp_login(host: str, port: int) -> ftplib.FTP:
    ftp = ftplib.FTP(timeout=10)
    ftp.connect(host, port)
    ftp.login(USER, PASSWORD)
    return ftp


@pytest.fixture
def thread_errors(monkeypatch: pytest.MonkeyPatch) -> list[BaseException | None]:
    """Exceptions that escaped any thread during the test."""
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    return errors


@pytest.fixture
def handler(home: Path) -> type[FTPHandler]:
    (home / "a.txt").write_bytes(b"served\n")
    return make_handler(home)


class Background:
    """``serve_forever()`` in a thread, as a pyftpdlib program run from a thread would."""

    def __init__(self, server: FTPServer) -> None:
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, kwargs={"handle_exit": False})
        self.thread.start()

    def join(self) -> None:
        self.thread.join(10)
        assert not self.thread.is_alive(), "serve_forever() did not return"


@pytest.fixture
def background() -> Iterator[list[Background]]:
    started: list[Background] = []
    yield started
    for item in started:
        item.server.close_all()
        item.join()


def serve_in_thread(server: FTPServer, registry: list[Background]) -> Background:
    item = Background(server)
    registry.append(item)
    return item


async def client_for(host: str, port: int, *, source: str | None = None) -> FTPClient:
    """A raw connection, optionally from another loopback source address; no greeting read."""
    sock = trio.socket.socket()
    if source is not None:
        await sock.bind((source, 0))
    await sock.connect((host, port))
    return FTPClient(trio.SocketStream(sock))


# --- the listening socket


def test_port_in_use_raises_in_the_constructor(handler: type[FTPHandler]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match="in use") as raised:
            FTPServer(("127.0.0.1", port), handler)
    assert raised.value.errno == errno.EADDRINUSE


def test_bound_address_is_known_before_serve_forever(
    handler: type[FTPHandler], background: list[Background]
) -> None:
    server = FTPServer(("127.0.0.1", 0), handler)
    host, port = server.socket.getsockname()
    assert port != 0
    assert server.address == ("127.0.0.1", port)
    # The constructor already listens: a client connecting now is served once serving starts.
    with socket.create_connection((host, port), timeout=10) as early:
        serve_in_thread(server, background)
        assert early.recv(1024) == f"220 trioftp {trioftp.__version__} ready.\r\n".encode()
        early.sendall(b"QUIT\r\n")
        assert early.recv(1024) == b"221 Goodbye.\r\n"


def test_close_all_before_serving_releases_the_port(handler: type[FTPHandler]) -> None:
    server = FTPServer(("127.0.0.1", 0), handler)
    host, port = server.address
    server.close_all()
    assert server.socket.fileno() == -1
    assert_refused(host, port)


async def test_pre_existing_listening_socket(
    nursery: trio.Nursery, handler: type[FTPHandler]
) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    server = FTPServer(sock, handler)
    assert server.socket is sock
    assert await nursery.start(server.serve) == sock.getsockname()
    client, greeting = await FTPClient.connect(*sock.getsockname())
    assert greeting.code == 220
    assert (await client.login(USER, PASSWORD)).code == 230
    assert (await client.cmd("TYPE I")).code == 200
    data, reply = await client.retr("a.txt")
    assert (data, reply.first) == (b"served\n", "226 Transfer complete.")
    await client.aclose()


def test_context_manager_calls_close_all(
    handler: type[FTPHandler], background: list[Background]
) -> None:
    with FTPServer(("127.0.0.1", 0), handler) as server:
        assert isinstance(server, FTPServer)
        host, port = server.address
        serving = serve_in_thread(server, background)
        ftp = ftp_login(host, port)
        assert download(ftp, "a.txt") == b"served\n"
    # Leaving the block disconnected the client and stopped serve_forever().
    serving.join()
    assert_shut_down(ftp)
    assert_refused(host, port)


# --- connection limits


async def test_max_cons(nursery: trio.Nursery, handler: type[FTPHandler]) -> None:
    server = FTPServer(("127.0.0.1", 0), handler)
    server.max_cons = 2
    host, port = await nursery.start(server.serve)
    first, _ = await FTPClient.connect(host, port)
    second, _ = await FTPClient.connect(host, port)
    extra = await client_for(host, port)
    reply = await extra.reply()
    assert reply.first == "421 Too many connections. Service temporarily unavailable."
    assert await extra.at_eof()
    await extra.aclose()
    # The sessions already open keep working.
    assert (await first.login(USER, PASSWORD)).code == 230
    assert (await first.cmd("TYPE I")).code == 200
    data, reply = await first.retr("a.txt")
    assert (data, reply.first) == (b"served\n", "226 Transfer complete.")
    assert (await second.cmd("NOOP")).first == NOOP_OK
    # A slot frees once a session has ended.
    assert (await first.cmd("QUIT")).first == GOODBYE
    assert await first.at_eof()
    await trio.testing.wait_all_tasks_blocked()
    third, greeting = await FTPClient.connect(host, port)
    assert greeting.code == 220
    assert server.ip_map == ["127.0.0.1", "127.0.0.1"]
    for client in (first, second, third):
        await client.aclose()


async def test_max_cons_per_ip(nursery: trio.Nursery, handler: type[FTPHandler]) -> None:
    server = FTPServer(("127.0.0.1", 0), handler)
    server.max_cons_per_ip = 1
    host, port = await nursery.start(server.serve)
    first, _ = await FTPClient.connect(host, port)
    same_ip = await client_for(host, port)
    assert (await same_ip.reply()).first == "421 Too many connections from the same IP address."
    assert await same_ip.at_eof()
    await same_ip.aclose()
    # Another address is not affected (all of 127/8 is loopback).
    other_ip = await client_for(host, port, source="127.0.0.2")
    assert (await other_ip.reply()).code == 220
    assert (await other_ip.login(USER, PASSWORD)).code == 230
    assert (await first.login(USER, PASSWORD)).code == 230
    assert (await first.cmd("NOOP")).first == NOOP_OK
    await first.aclose()
    await other_ip.aclose()


# --- stopping: close() and close_all()


def test_close_stops_accepting_and_waits_for_sessions(
    handler: type[FTPHandler], background: list[Background]
) -> None:
    server = FTPServer(("127.0.0.1", 0), handler)
    host, port = server.address
    serving = serve_in_thread(server, background)
    ftp = ftp_login(host, port)
    server.close()  # from another thread than the server's
    assert_refused(host, port)
    # The connected session keeps working, and serve_forever() keeps running for it.
    assert ftp.voidcmd("NOOP") == NOOP_OK
    assert download(ftp, "a.txt") == b"served\n"
    ftp.storbinary("STOR up.bin", io.BytesIO(b"after close()"))
    assert serving.thread.is_alive()
    assert ftp.quit() == GOODBYE
    serving.join()  # returns once the last session has ended
    home = Path(server.handler.authorizer.get_home_dir(USER))
    assert (home / "up.bin").read_bytes() == b"after close()"


async def test_close_inside_trio(nursery: trio.Nursery, handler: type[FTPHandler]) -> None:
    server = FTPServer(("127.0.0.1", 0), handler)
    returned = trio.Event()

    async def run(task_status: trio.TaskStatus[tuple[str, int]]) -> None:
        await server.serve(task_status=task_status)
        returned.set()

    host, port = await nursery.start(run)
    client, _ = await FTPClient.connect(host, port)
    server.close()
    await assert_refused_async(host, port)
    assert (await client.login(USER, PASSWORD)).code == 230
    assert (await client.cmd("NOOP")).first == NOOP_OK
    await trio.testing.wait_all_tasks_blocked()
    assert not returned.is_set()
    assert (await client.cmd("QUIT")).first == GOODBYE
    with trio.fail_after(10):
        await returned.wait()
    await client.aclose()


def test_close_all_from_another_thread(home: Path, background: list[Background]) -> None:
    disconnects: list[str] = []

    class Recording(FTPHandler):
        def on_disconnect(self) -> None:
            disconnects.append(f"{self.remote_ip}:{self.remote_port}")

    server = FTPServer(("127.0.0.1", 0), make_handler(home, base=Recording))
    host, port = server.address
    serving = serve_in_thread(server, background)
    clients = [ftp_login(host, port) for _ in range(3)]
    assert clients[0].pwd() == "/"
    server.close_all()
    # close_all() returns once every session has been closed.
    assert sorted(disconnects) == sorted(
        f"127.0.0.1:{ftp.sock.getsockname()[1]}" for ftp in clients
    )
    serving.join()
    for ftp in clients:
        assert_shut_down(ftp)
    assert_refused(host, port)


def test_serve_forever_non_blocking(
    handler: type[FTPHandler], thread_errors: list[BaseException | None]
) -> None:
    server = FTPServer(("127.0.0.1", 0), handler)
    host, port = server.address
    before = set(threading.enumerate())
    server.serve_forever(blocking=False)  # returns at once (a hang fails on the test timeout)
    server.serve_forever(blocking=False)  # a second call changes nothing
    try:
        ftp = ftp_login(host, port)
        assert download(ftp, "a.txt") == b"served\n"
        other = ftp_login(host, port)
        assert other.voidcmd("NOOP") == NOOP_OK
    finally:
        server.close_all()
    for thread in set(threading.enumerate()) - before:
        thread.join(10)
        assert not thread.is_alive()
    assert_shut_down(ftp)
    assert_shut_down(other)
    assert_refused(host, port)
    assert thread_errors == []


def test_close_all_right_after_non_blocking_start(
    handler: type[FTPHandler], thread_errors: list[BaseException | None]
) -> None:
    before = set(threading.enumerate())
    for _ in range(10):
        server = FTPServer(("127.0.0.1", 0), handler)
        host, port = server.address
        server.serve_forever(blocking=False)
        server.close_all()
        assert_refused(host, port)
    for thread in set(threading.enumerate()) - before:
        thread.join(10)
        assert not thread.is_alive()
    assert thread_errors == []


# --- Trio-native serving


async def test_trioftp_serve_in_a_nursery(handler: type[FTPHandler]) -> None:
    disconnected = trio.Event()
    handler.on_disconnect = lambda self: disconnected.set()  # type: ignore[method-assign]
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            host, port = await nursery.start(trioftp.serve, handler, "127.0.0.1", 0)
            assert host == "127.0.0.1"
            assert port != 0
            client, greeting = await FTPClient.connect(host, port)
            assert greeting.code == 220
            assert (await client.login(USER, PASSWORD)).code == 230
            pasv = await client.cmd("PASV")
            assert pasv.code == 227
            nums = [int(n) for n in re.findall(r"\d+", pasv.text.split("(")[1])]
            data_port = nums[4] * 256 + nums[5]
            nursery.cancel_scope.cancel()
        # Leaving the scope stopped the server and every session.
        assert disconnected.is_set()
        assert await client.at_eof()
        await client.aclose()
        await assert_refused_async(host, port)
        await assert_refused_async(host, data_port)


async def test_ftpserver_serve_with_task_status(handler: type[FTPHandler]) -> None:
    server = FTPServer(("127.0.0.1", 0), handler)
    with trio.fail_after(10):
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                address = await nursery.start(server.serve)
                assert address == server.address
                client, greeting = await FTPClient.connect(*address)
                assert greeting.code == 220
                assert (await client.login(USER, PASSWORD)).code == 230
                scope.cancel()
        assert scope.cancelled_caught
        assert await client.at_eof()
        await client.aclose()
        assert server.socket.fileno() == -1
        await assert_refused_async(*address)


class FailingInit(FTPHandler):
    """The next ``failures`` sessions fail in ``__init__``."""

    failures: ClassVar[int] = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if type(self).failures:
            type(self).failures -= 1
            raise RuntimeError("handler init failed")
        super().__init__(*args, **kwargs)


async def test_handler_init_error_ends_only_that_session(
    nursery: trio.Nursery, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    handler = make_handler(home, base=FailingInit)
    host, port = await nursery.start(trioftp.serve, handler, "127.0.0.1", 0)
    before, _ = await FTPClient.connect(host, port)
    handler.failures = 1  # type: ignore[attr-defined]
    failing = await client_for(host, port)
    with trio.fail_after(10):
        assert await failing.at_eof()  # no greeting: the connection is just closed
    await failing.aclose()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["session from 127.0.0.1 failed to start"]
    assert "RuntimeError: handler init failed" in caplog.text
    # The server goes on: the earlier session and a new one both work.
    assert (await before.login(USER, PASSWORD)).code == 230
    after, greeting = await FTPClient.connect(host, port)
    assert greeting.code == 220
    assert (await after.login(USER, PASSWORD)).code == 230
    for client in (before, after):
        await client.aclose()


class Crashing(FTPHandler):
    proto_cmds = FTPHandler.proto_cmds.copy()
    proto_cmds.update({"SITE BOOM": dict(perm=None, auth=True, arg=False, help="Syntax: BOOM")})
    disconnected: ClassVar[list[int]]

    def ftp_SITE_BOOM(self, line: str) -> None:
        raise ZeroDivisionError("a bug in the program")

    def on_disconnect(self) -> None:
        self.disconnected.append(self.remote_port)


async def test_unexpected_error_in_a_command_is_451_and_the_session_goes_on(
    nursery: trio.Nursery, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (home / "a.txt").write_bytes(b"still served")
    handler = make_handler(home, base=Crashing, disconnected=[])
    host, port = await nursery.start(trioftp.serve, handler, "127.0.0.1", 0)
    victim, _ = await FTPClient.connect(host, port)
    bystander, _ = await FTPClient.connect(host, port)
    for client in (victim, bystander):
        assert (await client.login(USER, PASSWORD)).code == 230
    reply = await victim.cmd("SITE BOOM")
    assert reply.first == "451 Requested action aborted: local error in processing."
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].getMessage().endswith("-[user] SITE BOOM failed")
    assert "ZeroDivisionError: a bug in the program" in caplog.text
    assert handler.disconnected == []  # type: ignore[attr-defined]
    # The failing session and everyone else are still served.
    for client in (victim, bystander):
        assert (await client.cmd("NOOP")).first == NOOP_OK
        assert (await client.cmd("TYPE I")).code == 200
        data, reply = await client.retr("a.txt")
        assert (data, reply.first) == (b"still served", "226 Transfer complete.")
        await client.aclose()


# --- subprocesses: signals, default logging, pre-fork

SCRIPT_HEAD = """\
import os
import signal
import sys

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler
from trioftp.servers import FTPServer


class Handler(FTPHandler):
    proto_cmds = FTPHandler.proto_cmds.copy()
    proto_cmds["SITE PID"] = dict(perm=None, auth=False, arg=None, help="Syntax: SITE PID")

    def ftp_SITE_PID(self, line):
        self.respond("200 %d" % os.getpid())


authorizer = DummyAuthorizer()
authorizer.add_user("user", "12345", sys.argv[1], perm="elradfmwMT")
Handler.authorizer = authorizer
server = FTPServer(("127.0.0.1", 0), Handler)
print("ftp://127.0.0.1:%d/" % server.address[1], flush=True)
"""


@pytest.fixture
def share(tmp_path: Path) -> Path:
    return make_share(tmp_path, "hello.txt", b"Hello, FTP!\n")


def script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "server_script.py"
    path.write_text(SCRIPT_HEAD + body)
    return [sys.executable, str(path), str(tmp_path / "share")]


def served_by(ftp: ftplib.FTP) -> int:
    reply = ftp.sendcmd("SITE PID")
    assert reply.startswith("200 "), reply
    return int(reply[4:])


def test_default_logging_goes_to_stderr(tmp_path: Path, share: Path) -> None:
    argv = script(tmp_path, "server.serve_forever()\nprint('returned', flush=True)\n")
    with running(argv, cwd=tmp_path) as server:
        with server.ftp("user", "12345") as ftp:
            assert download(ftp, "hello.txt") == b"Hello, FTP!\n"
            assert ftp.quit() == GOODBYE
        stderr = server.stop_cleanly(signal.SIGINT)
        assert server.rest_of_stdout() == "returned\n"
    pid = server.proc.pid
    lines = stderr.splitlines()
    assert re.fullmatch(
        rf"\[I \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\] >>> starting FTP server on "
        rf"127\.0\.0\.1:{server.port}, pid={pid} <<< nat=none passive=any tls=off workers=1",
        lines[0],
    )
    assert any(line.endswith("-[user] USER 'user' logged in.") for line in lines)
    assert any(line.endswith("] received interrupt signal") for line in lines)
    assert lines[-1].endswith("] >>> FTP server stopped <<<")
    assert not any(line.startswith("[D ") for line in lines)  # INFO level, no DEBUG


def test_program_sigterm_handler_raising_keyboard_interrupt(tmp_path: Path, share: Path) -> None:
    body = """\
def on_sigterm(signum, frame):
    raise KeyboardInterrupt


signal.signal(signal.SIGTERM, on_sigterm)
server.serve_forever()
print("serve_forever returned", flush=True)
"""
    with running(script(tmp_path, body), cwd=tmp_path) as server:
        ftp = server.ftp("user", "12345")
        assert download(ftp, "hello.txt") == b"Hello, FTP!\n"
        stderr = server.stop_cleanly(signal.SIGTERM)
        assert server.rest_of_stdout() == "serve_forever returned\n"
        assert_shut_down(ftp)
    assert "received interrupt signal" in stderr
    assert "[user] FTP session closed (disconnect)." in stderr
    assert ">>> FTP server stopped <<<" in stderr


def test_handle_exit_false_lets_keyboard_interrupt_through(tmp_path: Path, share: Path) -> None:
    body = """\
try:
    server.serve_forever(handle_exit=False)
except KeyboardInterrupt:
    print("KeyboardInterrupt reached the program", flush=True)
"""
    with (
        running(script(tmp_path, body), cwd=tmp_path) as server,
        server.ftp("user", "12345") as ftp,
    ):
        assert ftp.pwd() == "/"
        stderr = server.stop_cleanly(signal.SIGINT)
        assert server.rest_of_stdout() == "KeyboardInterrupt reached the program\n"
        assert_disconnected(ftp)
    assert "received interrupt signal" not in stderr  # the server did not handle it


def children_of(parent: int) -> set[int]:
    """The pids of *parent*'s child processes (from /proc)."""
    children = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after the ")".
        if int(stat.rpartition(")")[2].split()[1]) == parent:
            children.add(int(entry))
    return children


def test_prefork_workers_serve_and_stop_on_sigterm(tmp_path: Path, share: Path) -> None:
    body = """\
server.serve_forever(worker_processes=2)
print("parent returned", flush=True)
"""
    workers: set[int] = set()
    try:
        with running(script(tmp_path, body), cwd=tmp_path) as server:
            clients = [server.ftp("user", "12345") for _ in range(6)]
            workers = children_of(server.proc.pid)
            assert len(workers) == 2
            pids = {served_by(ftp) for ftp in clients}
            assert pids <= workers  # every session was served by a worker
            # Stop only once both workers serve (one stopped before it serves
            # exits quietly): more sessions until each worker has had one.
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while pids != workers and time.monotonic() < deadline:
                extra = server.ftp("user", "12345")
                pids.add(served_by(extra))
                extra.quit()
            assert pids == workers
            for ftp in clients:
                assert download(ftp, "hello.txt") == b"Hello, FTP!\n"
            stderr = server.stop_cleanly(signal.SIGTERM)
            assert server.rest_of_stdout() == "parent returned\n"
            for ftp in clients:
                assert_shut_down(ftp)
        for pid in workers:  # reaped by the parent before it exited
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        for pid in workers:  # never leave orphans behind, even when the test fails
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    lines = stderr.splitlines()
    first, second = sorted(workers)
    assert any(line.endswith(f"started 2 worker processes: [{first}, {second}]") for line in lines)
    # One start line, the parent's, naming the workers.
    starts = [line for line in lines if ">>> starting FTP server" in line]
    assert len(starts) == 1, stderr
    assert starts[0].endswith(
        f">>> starting FTP server on 127.0.0.1:{server.port}, pid={server.proc.pid} <<< "
        "nat=none passive=any tls=off workers=2"
    )
    assert sum(line.endswith("] received interrupt signal") for line in lines) == 2
    # Each worker's stop line, then the parent's (the last line, as in one process).
    assert sum(line.endswith("] >>> FTP server stopped <<<") for line in lines) == 3
    assert lines[-1].endswith("] >>> FTP server stopped <<<")
    assert any(line.endswith("received interrupt signal; stopping workers") for line in lines)
    assert "failed" not in stderr
