"""The concurrency models (async, a thread per session, a process per session) and stopping.

Each model serves concurrent clients, admits by ``max_cons`` and
``max_cons_per_ip`` and runs under pyftpdlib's ``serve_forever(blocking=False)``
loop; in the thread and process models a blocking handler stalls only its
own session, and in the process model a crashing one ends only its own.
Stopping (``close()``'s grace period, ``close_all()`` under load) is checked
on the async model in the test's Trio run, on a MockClock where time matters.

Handler classes live at module level: the process model imports them in
its children (``make_handler`` adds the settings, which travel with them).
"""

from __future__ import annotations

import ftplib
import io
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import trio
import trio.testing

from trioftp.handlers import FTPHandler
from trioftp.servers import (
    FTPServer,
    HandlerNotPortable,
    MultiprocessFTPServer,
    ThreadedFTPServer,
)
from trioftp.session.runner import InlineRunner

from ..support.ftpclient import FTPClient
from ..support.interop import assert_shut_down, download
from ..support.serverprocess import make_share, running
from ..support.servers import PASSWORD, USER, make_handler
from .test_servers import children_of, script

MODELS = [FTPServer, ThreadedFTPServer, MultiprocessFTPServer]
SPAWNING = [ThreadedFTPServer, MultiprocessFTPServer]
NOOP_OK = "200 I successfully did nothing."
SHUTTING_DOWN = "421 Server is shutting down."
WAIT = 10.0


# --- handlers (module level: the process model imports them in its children)


class SlowLogin(FTPHandler):
    """``on_login`` of anonymous blocks (sleeping) until the test creates the file ``release``."""

    markers = ""

    def on_login(self, username: str) -> None:
        if username != "anonymous":
            return
        markers = Path(self.markers)
        (markers / "entered").touch()
        deadline = time.monotonic() + WAIT
        while not (markers / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.01)


class SlowCommand(FTPHandler):
    """``SITE WAIT`` blocks (sleeping) until the test creates the file ``release``."""

    markers = ""
    proto_cmds: ClassVar[dict[str, dict[str, object]]] = {
        **FTPHandler.proto_cmds,
        "SITE WAIT": {"perm": None, "auth": True, "arg": None, "help": "Syntax: SITE WAIT"},
    }

    def ftp_SITE_WAIT(self, line: str) -> None:
        markers = Path(self.markers)
        (markers / "entered").touch()
        deadline = time.monotonic() + WAIT
        while not (markers / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.respond("200 Waited.")


class Crashing(FTPHandler):
    """``SITE CRASH`` ends the process serving the session."""

    proto_cmds: ClassVar[dict[str, dict[str, object]]] = {
        **FTPHandler.proto_cmds,
        "SITE CRASH": {"perm": None, "auth": True, "arg": None, "help": "Syntax: SITE CRASH"},
    }

    def ftp_SITE_CRASH(self, line: str) -> None:
        os._exit(3)


class RecordingToFiles(FTPHandler):
    """Writes each ``on_*file*`` callback's name into a file of ``markers`` (any process)."""

    markers = ""

    def _record(self, name: str, file: str) -> None:
        (Path(self.markers) / name).write_text(file)

    def on_file_received(self, file: str) -> None:
        self._record("received", file)

    def on_incomplete_file_received(self, file: str) -> None:
        self._record("incomplete-received", file)


class Recording(FTPHandler):
    """Records the transfer callbacks in ``calls`` (a list given per test)."""

    calls: ClassVar[list[tuple[str, str]]] = []

    def on_file_sent(self, file: str) -> None:
        self.calls.append(("sent", file))

    def on_file_received(self, file: str) -> None:
        self.calls.append(("received", file))

    def on_incomplete_file_sent(self, file: str) -> None:
        self.calls.append(("incomplete sent", file))

    def on_incomplete_file_received(self, file: str) -> None:
        self.calls.append(("incomplete received", file))


def _only_in(pid: int) -> object:
    if os.getpid() != pid:
        raise RuntimeError("this setting can't be rebuilt in another process")
    return OnlyHere()


class OnlyHere:
    """A setting that pickles, but can't be unpickled in another process."""

    def __reduce__(self) -> tuple[Any, tuple[int]]:
        return _only_in, (os.getpid(),)


# --- helpers


@pytest.fixture
def started() -> Iterator[list[FTPServer]]:
    servers: list[FTPServer] = []
    yield servers
    for server in servers:
        server.close_all()


def start(
    model: type[FTPServer], handler: type[FTPHandler], registry: list[FTPServer], **settings: Any
) -> FTPServer:
    """*model* on a free loopback port, serving in a background thread."""
    server = model(("127.0.0.1", 0), handler)
    for name, value in settings.items():
        setattr(server, name, value)
    registry.append(server)
    server.serve_forever(blocking=False)
    return server


def ftp_login(server: FTPServer, source: str | None = None) -> ftplib.FTP:
    ftp = ftplib.FTP(timeout=WAIT, source_address=(source, 0) if source else None)
    ftp.connect(*server.address)
    ftp.login(USER, PASSWORD)
    return ftp


def wait_for(condition: Any, what: str) -> None:
    """Poll *condition* until true (the server's other thread or process sets it)."""
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def refused_reply(server: FTPServer, source: str | None = None) -> str:
    """Connect and read the server's first reply line; check it hangs up after it."""
    sock = socket.create_connection(
        server.address, timeout=WAIT, source_address=(source, 0) if source else None
    )
    with sock, sock.makefile("rb") as lines:
        reply = lines.readline().decode().rstrip("\r\n")
        assert lines.readline() == b""
    return reply


# --- every model


@pytest.mark.parametrize("model", MODELS)
def test_each_model_serves_concurrent_clients(
    model: type[FTPServer], home: Path, started: list[FTPServer]
) -> None:
    (home / "shared.txt").write_bytes(b"for everyone\n")
    server = start(model, make_handler(home), started)
    clients = [ftp_login(server) for _ in range(3)]
    for number, ftp in enumerate(clients):  # all three sessions open at once
        ftp.storbinary(f"STOR up{number}.bin", io.BytesIO(bytes([number]) * 100_000))
    for number, ftp in enumerate(clients):
        assert download(ftp, "shared.txt") == b"for everyone\n"
        assert download(ftp, f"up{number}.bin") == bytes([number]) * 100_000
        assert sorted(ftp.nlst()) == ["shared.txt", "up0.bin", "up1.bin", "up2.bin"]
    assert server.ip_map == ["127.0.0.1"] * 3
    for ftp in clients:
        assert ftp.quit() == "221 Goodbye."
    wait_for(lambda: not server.ip_map, "the sessions to end")


@pytest.mark.parametrize("model", MODELS)
def test_max_cons_counts_sessions(
    model: type[FTPServer], home: Path, started: list[FTPServer]
) -> None:
    server = start(model, make_handler(home), started, max_cons=2)
    first, second = ftp_login(server), ftp_login(server)
    assert refused_reply(server) == "421 Too many connections. Service temporarily unavailable."
    assert second.voidcmd("NOOP") == NOOP_OK  # the open sessions keep working
    assert first.quit() == "221 Goodbye."
    wait_for(lambda: len(server.ip_map) == 1, "the slot to free")
    third = ftp_login(server)
    assert third.voidcmd("NOOP") == NOOP_OK
    assert refused_reply(server) == "421 Too many connections. Service temporarily unavailable."
    second.close()
    third.close()


@pytest.mark.parametrize("model", MODELS)
def test_max_cons_per_ip_counts_sessions(
    model: type[FTPServer], home: Path, started: list[FTPServer]
) -> None:
    server = start(model, make_handler(home), started, max_cons_per_ip=1)
    first = ftp_login(server)
    assert refused_reply(server) == "421 Too many connections from the same IP address."
    other_ip = ftp_login(server, source="127.0.0.2")  # all of 127/8 is loopback
    assert other_ip.voidcmd("NOOP") == NOOP_OK
    assert first.voidcmd("NOOP") == NOOP_OK
    first.close()
    other_ip.close()


@pytest.mark.parametrize("model", MODELS)
def test_pyftpdlib_style_non_blocking_loop_then_close_all_from_another_thread(
    model: type[FTPServer], home: Path
) -> None:
    (home / "a.txt").write_bytes(b"served\n")
    server = model(("127.0.0.1", 0), make_handler(home))
    stop, stopped = threading.Event(), threading.Event()
    before = set(threading.enumerate())
    children = children_of(os.getpid())

    def loop() -> None:  # what pyftpdlib's test harness (FtpdThreadWrapper) does
        try:
            while not stop.is_set():
                server.serve_forever(timeout=0.001, blocking=False)
        finally:
            stopped.set()

    looping = threading.Thread(target=loop)
    looping.start()
    ftp = ftp_login(server)
    assert download(ftp, "a.txt") == b"served\n"
    stop.set()
    assert stopped.wait(WAIT)
    server.close_all()  # from the main thread, once the loop has stopped calling
    looping.join(WAIT)
    assert_shut_down(ftp)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(server.address, timeout=WAIT).close()
    # Every thread and process the server started is gone once close_all() has returned.
    assert set(threading.enumerate()) - before == set()
    assert children_of(os.getpid()) == children


@pytest.mark.parametrize("host", ["localhost", "::1"])
def test_host_names_and_ipv6(host: str, home: Path, started: list[FTPServer]) -> None:
    server = FTPServer((host, 0), make_handler(home))
    started.append(server)
    assert server.address == server.socket.getsockname()[:2]
    assert server.address[0] in ("127.0.0.1", "::1")
    server.serve_forever(blocking=False)
    ftp = ftplib.FTP(timeout=WAIT)
    ftp.connect(server.address[0], server.address[1])
    assert ftp.login(USER, PASSWORD).startswith("230 ")
    ftp.close()


@pytest.mark.parametrize("model", SPAWNING)
def test_close_all_ends_an_upload_with_426_in_every_model(
    model: type[FTPServer], home: Path, tmp_path: Path
) -> None:
    handler = make_handler(home, base=RecordingToFiles, markers=str(tmp_path))
    server = model(("127.0.0.1", 0), handler)
    server.serve_forever(blocking=False)
    ftp = ftp_login(server)
    ftp.voidcmd("TYPE I")
    upload = ftp.transfercmd("STOR part.bin")
    upload.sendall(b"x" * 200_000)
    wait_for((home / "part.bin").exists, "the upload's file to be opened")
    server.close_all()  # returns once every session has ended
    with pytest.raises(ftplib.error_temp) as aborted:
        ftp.getresp()
    reply = str(aborted.value)
    assert reply.startswith("426 Transfer aborted, partial file kept (")
    received = int(reply.split("(")[1].split(maxsplit=1)[0])
    assert_shut_down(ftp)
    upload.close()
    assert (home / "part.bin").read_bytes() == b"x" * received
    assert (tmp_path / "incomplete-received").read_text() == str(home / "part.bin")
    assert not (tmp_path / "received").exists()


def test_close_all_from_a_signal_handler(tmp_path: Path) -> None:
    make_share(tmp_path, "hello.txt", b"Hello, FTP!\n")
    body = """\
signal.signal(signal.SIGUSR1, lambda signum, frame: server.close_all())
server.serve_forever()
print("serve_forever returned", flush=True)
"""
    with running(script(tmp_path, body), cwd=tmp_path) as server:
        ftp = server.ftp("user", "12345")
        assert download(ftp, "hello.txt") == b"Hello, FTP!\n"
        server.proc.send_signal(signal.SIGUSR1)
        assert server.proc.wait(WAIT) == 0
        assert_shut_down(ftp)  # the 421 waits in the socket, then EOF
        assert server.rest_of_stdout() == "serve_forever returned\n"


def test_ctrl_c_stops_a_non_blocking_loop_with_handle_exit(tmp_path: Path) -> None:
    make_share(tmp_path, "hello.txt", b"Hello, FTP!\n")
    body = """\
for _ in range(1_000_000):  # a stopped server returns at once
    server.serve_forever(timeout=0.01, blocking=False)
print("loop ended", flush=True)
"""
    with running(script(tmp_path, body), cwd=tmp_path) as server:
        ftp = server.ftp("user", "12345")
        assert download(ftp, "hello.txt") == b"Hello, FTP!\n"
        server.stop_cleanly(signal.SIGINT)  # no KeyboardInterrupt traceback
        assert server.rest_of_stdout() == "loop ended\n"
        assert_shut_down(ftp)


@pytest.mark.parametrize("model", MODELS)
def test_close_all_returns_once_every_thread_and_process_has_ended(
    model: type[FTPServer], home: Path
) -> None:
    server = model(("127.0.0.1", 0), make_handler(home))
    before, children = set(threading.enumerate()), children_of(os.getpid())
    serving = threading.Thread(target=server.serve_forever, kwargs={"handle_exit": False})
    serving.start()  # a program's own thread, which close_all() does not join
    clients = [ftp_login(server) for _ in range(2)]
    assert clients[0].voidcmd("NOOP") == NOOP_OK
    server.close_all()
    assert set(threading.enumerate()) - before <= {serving}
    assert children_of(os.getpid()) == children
    serving.join(WAIT)
    for ftp in clients:
        assert_shut_down(ftp)


# --- blocking and crashing handlers


@pytest.mark.parametrize("model", SPAWNING)
def test_blocking_on_login_does_not_stall_other_sessions(
    model: type[FTPServer], home: Path, tmp_path: Path, started: list[FTPServer]
) -> None:
    server = start(model, make_handler(home, base=SlowLogin, markers=str(tmp_path)), started)
    sleeper, other = ftplib.FTP(timeout=WAIT), ftp_login(server)
    sleeper.connect(*server.address)
    sleeper.sendcmd("USER anonymous")
    sleeper.putcmd("PASS guest@")  # on_login now sleeps until "release" exists
    wait_for((tmp_path / "entered").exists, "on_login to start sleeping")
    # Meanwhile every other session is served.
    assert other.voidcmd("NOOP") == NOOP_OK
    assert other.nlst() == []
    fresh = ftplib.FTP(timeout=WAIT)
    assert fresh.connect(*server.address).startswith("220 ")
    (tmp_path / "release").touch()
    assert sleeper.getresp().startswith("230 ")
    for ftp in (sleeper, other, fresh):
        ftp.close()


@pytest.mark.parametrize("model", SPAWNING)
def test_a_blocking_command_does_not_stall_other_sessions(
    model: type[FTPServer], home: Path, tmp_path: Path, started: list[FTPServer]
) -> None:
    server = start(model, make_handler(home, base=SlowCommand, markers=str(tmp_path)), started)
    waiting, other = ftp_login(server), ftp_login(server)
    waiting.putcmd("SITE WAIT")  # a plain ftp_* method that sleeps until "release" exists
    wait_for((tmp_path / "entered").exists, "SITE WAIT to start sleeping")
    assert other.voidcmd("NOOP") == NOOP_OK
    other.storbinary("STOR meanwhile.bin", io.BytesIO(b"not stalled"))
    assert (home / "meanwhile.bin").read_bytes() == b"not stalled"
    (tmp_path / "release").touch()
    assert waiting.getresp() == "200 Waited."
    waiting.close()
    other.close()


def test_a_crashing_process_ends_only_its_session(
    home: Path, started: list[FTPServer], caplog: pytest.LogCaptureFixture
) -> None:
    server = start(MultiprocessFTPServer, make_handler(home, base=Crashing), started)
    doomed, other = ftp_login(server), ftp_login(server)
    with caplog.at_level(logging.WARNING, logger="trioftp"):
        with pytest.raises(EOFError):
            doomed.sendcmd("SITE CRASH")
        wait_for(lambda: len(server.ip_map) == 1, "the crashed session to be counted out")
    assert other.voidcmd("NOOP") == NOOP_OK
    other.storbinary("STOR after.bin", io.BytesIO(b"still served"))
    assert (home / "after.bin").read_bytes() == b"still served"
    assert ftp_login(server).voidcmd("NOOP") == NOOP_OK
    crashes = [r.getMessage() for r in caplog.records if "exit status" in r.getMessage()]
    assert len(crashes) == 1
    assert crashes[0].endswith("ended with exit status 3")


def test_process_model_refuses_a_handler_it_cannot_rebuild(home: Path) -> None:
    class Local(FTPHandler):  # defined in a function: no process can import it
        def on_login(self, username: str) -> None:
            pass

    with pytest.raises(HandlerNotPortable, match="define the handler class at the top level"):
        MultiprocessFTPServer(("127.0.0.1", 0), Local)
    unpicklable = make_handler(home, lock=threading.Lock())
    with pytest.raises(HandlerNotPortable, match=r"TestHandler\.lock = .* can't be sent"):
        MultiprocessFTPServer(("127.0.0.1", 0), unpicklable)


def test_process_model_reports_a_handler_its_zygote_cannot_rebuild(
    home: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    server = MultiprocessFTPServer(("127.0.0.1", 0), make_handler(home, setting=OnlyHere()))
    with pytest.raises(RuntimeError, match=r"the session process maker \(zygote\) could not"):
        server.serve_forever(handle_exit=False)
    assert "this setting can't be rebuilt in another process" in capfd.readouterr().err


# --- stopping: close()'s grace period, close_all() under load


async def test_close_lets_sessions_finish_within_the_grace_period(
    nursery: trio.Nursery, home: Path, mock_clock: trio.testing.MockClock
) -> None:
    server = FTPServer(("127.0.0.1", 0), make_handler(home), runner=InlineRunner())
    server.close_grace_period = 60
    host, port = await nursery.start(server.serve)
    client, _ = await FTPClient.connect(host, port)
    assert (await client.login(USER, PASSWORD)).code == 230
    server.close()
    with trio.socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        await sock.connect((host, port))
    mock_clock.jump(59)
    assert (await client.cmd("NOOP")).first == NOOP_OK
    assert (await client.stor("late.bin", b"in time")).first == "226 Transfer complete."
    await trio.testing.wait_all_tasks_blocked()
    mock_clock.jump(2)
    assert (await client.reply()).first == SHUTTING_DOWN
    assert await client.at_eof()
    assert (home / "late.bin").read_bytes() == b"in time"
    await client.aclose()


async def test_close_all_under_load_ends_transfers_with_426(
    nursery: trio.Nursery, home: Path
) -> None:
    big = home / "big.bin"
    big.write_bytes(os.urandom(1 << 20) * 32)
    calls: list[tuple[str, str]] = []
    handler = make_handler(home, base=Recording, calls=calls)
    server = FTPServer(("127.0.0.1", 0), handler, runner=InlineRunner())
    host, port = await nursery.start(server.serve)
    uploader, _ = await FTPClient.connect(host, port)
    downloader, _ = await FTPClient.connect(host, port)
    for client in (uploader, downloader):
        assert (await client.login(USER, PASSWORD)).code == 230
        assert (await client.cmd("TYPE I")).code == 200
    upload = await uploader.pasv()
    assert (await uploader.cmd("STOR part.bin")).code in (125, 150)
    await upload.send_all(b"x" * 300_000)
    download_stream = await downloader.pasv()
    assert (await downloader.cmd("RETR big.bin")).code in (125, 150)
    assert await download_stream.receive_some(1000)  # the download is under way, unread
    await trio.testing.wait_all_tasks_blocked()  # the server has read all that was sent
    server.close_all()
    assert (await uploader.reply()).first == (
        "426 Transfer aborted, partial file kept (300000 bytes received)."
    )
    assert (await uploader.reply()).first == SHUTTING_DOWN
    assert (await downloader.reply()).first == "426 Transfer aborted."
    assert (await downloader.reply()).first == SHUTTING_DOWN
    for client in (uploader, downloader):
        assert await client.at_eof()
        await client.aclose()
    await upload.aclose()
    await download_stream.aclose()
    # The partial upload is on disk whole and closed; nothing was reported complete.
    assert (home / "part.bin").read_bytes() == b"x" * 300_000
    assert sorted(calls) == [
        ("incomplete received", str(home / "part.bin")),
        ("incomplete sent", str(big)),
    ]
