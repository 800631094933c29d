"""Session events: observers, server and session statistics."""

from __future__ import annotations

from pathlib import Path

import trio

from trioftp.servers import FTPServer, ServerStatistics
from trioftp.session.events import Observer, SessionStatistics, TransferRecord

from ..support.ftpclient import FTPClient
from ..support.harness import SessionHarness
from ..support.servers import make_handler


class Recorder(Observer):
    """Writes down every event it is told."""

    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []
        self.disconnected_event = trio.Event()

    def connected(self, remote_ip: str) -> None:
        self.events.append(("connected", remote_ip))

    def logged_in(self, username: str) -> None:
        self.events.append(("logged_in", username))

    def login_failed(self, username: str) -> None:
        self.events.append(("login_failed", username))

    def logged_out(self, username: str) -> None:
        self.events.append(("logged_out", username))

    def command_done(self, command: str, code: int) -> None:
        self.events.append(("command", command, code))

    def transfer_started(self, command: str, receive: bool) -> None:
        self.events.append(("transfer_started", command, receive))

    def transfer_done(self, record: TransferRecord) -> None:
        self.events.append(("transfer_done", record.command, record.shown_path, record.bytes))
        self.events.append(("transfer_outcome", record.receive, record.completed))

    def disconnected(self, remote_ip: str) -> None:
        self.events.append(("disconnected", remote_ip))
        self.disconnected_event.set()


async def test_observer_sees_every_event_in_order(nursery: trio.Nursery, home: Path) -> None:
    (home / "a.txt").write_bytes(b"12345")
    server = FTPServer(("127.0.0.1", 0), make_handler(home))
    recorder = Recorder()
    server.add_observer(recorder)
    host, port = await nursery.start(server.serve)
    client, greeting = await FTPClient.connect(host, port)
    assert greeting.code == 220
    assert (await client.cmd("USER user")).code == 331
    assert (await client.cmd("PASS wrong")).code == 530
    assert (await client.login()).code == 230
    assert (await client.cmd("TYPE I")).code == 200
    data, reply = await client.retr("a.txt")
    assert (data, reply.code) == (b"12345", 226)
    assert (await client.cmd("QUIT")).code == 221
    await recorder.disconnected_event.wait()
    assert recorder.events == [
        ("connected", "127.0.0.1"),
        ("command", "USER", 331),
        ("login_failed", "user"),
        ("command", "PASS", 530),
        ("command", "USER", 331),
        ("logged_in", "user"),
        ("command", "PASS", 230),
        ("command", "TYPE", 200),
        ("command", "PASV", 227),
        ("transfer_started", "RETR", False),
        ("transfer_done", "RETR", "/a.txt", 5),
        ("transfer_outcome", False, True),
        ("command", "RETR", 226),
        ("logged_out", "user"),
        ("command", "QUIT", 221),
        ("disconnected", "127.0.0.1"),
    ]


async def test_server_statistics(nursery: trio.Nursery, home: Path) -> None:
    (home / "a.txt").write_bytes(b"x" * 1000)
    server = FTPServer(("127.0.0.1", 0), make_handler(home))
    assert server.runner is None  # made when serving starts
    host, port = await nursery.start(server.serve)
    client, _ = await FTPClient.connect(host, port)
    assert (await client.cmd("USER user")).code == 331
    assert (await client.cmd("PASS nope")).code == 530
    assert (await client.login()).code == 230
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.retr("a.txt"))[1].code == 226
    assert (await client.stor("b.txt", b"y" * 300)).code == 226
    listing, reply = await client.listing("NLST")
    assert (listing, reply.code) == ("a.txt\r\nb.txt\r\n", 226)
    statistics = server.statistics()
    assert statistics == ServerStatistics(
        sessions=1,
        transfers_in_flight=0,
        transfers=3,
        bytes_received=300,
        bytes_sent=1000 + len(listing),
        logins=1,
        failed_logins=1,
        commands=11,  # USER PASS USER PASS TYPE, PASV RETR, PASV STOR, PASV NLST
        threads_busy=0,
        sessions_total=1,
        transfers_failed=0,
        transfer_seconds=statistics.transfer_seconds,  # real time: not asserted
        tls_handshakes=0,
        failed_tls_handshakes=0,
        replies={331: 2, 530: 1, 230: 1, 200: 1, 227: 3, 226: 3},
    )
    await client.aclose()


async def test_session_statistics(session_harness: SessionHarness, home: Path) -> None:
    (home / "a.txt").write_bytes(b"abc")
    session = session_harness()
    client = session.client
    assert (await client.reply()).code == 220
    assert session.handler.statistics() == SessionStatistics(
        ("127.0.0.1", 5000), "", False, 0, 0, 0, 0, False
    )
    assert (await client.login()).code == 230
    assert (await client.cmd("TYPE I")).code == 200
    assert (await client.cmd("PORT 127,0,0,1,19,136")).code == 200
    assert (await client.cmd("RETR a.txt")).code == 150
    data = await session.data_peers.receive()
    assert await data.receive_some(10) == b"abc"
    assert (await client.reply()).code == 226
    assert session.handler.statistics() == SessionStatistics(
        ("127.0.0.1", 5000), "user", True, 5, 1, 0, 3, False
    )


async def test_server_attributes_a_program_adds_do_not_disturb_sessions(
    nursery: trio.Nursery, home: Path
) -> None:
    class Custom(FTPServer):
        def __init__(self, *args: object) -> None:
            super().__init__(*args)  # type: ignore[arg-type]
            self.events: list[str] = []  # a name a program may well use

    server = Custom(("127.0.0.1", 0), make_handler(home))
    host, port = await nursery.start(server.serve)
    client, greeting = await FTPClient.connect(host, port)
    assert greeting.code == 220
    assert (await client.login()).code == 230
    assert server.statistics().logins == 1
    assert server.observers[1:] == ()  # only the server's own counters
    await client.aclose()
