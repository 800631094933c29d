"""The audit log: every command that changes or reveals the filesystem, and
every transfer, logged at INFO with its path, reply code and failure reason;
pyftpdlib's ``log_cmd``/``log_cmds_list``/``log_transfer``/``log`` hooks."""

from __future__ import annotations

import errno
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

import pytest
import trio
from trio.testing import MockClock

from trioftp.auditevent import AuditEvent, event_of
from trioftp.filesystems import AbstractedFS
from trioftp.handlers import FTPHandler, TLS_FTPHandler

from ..support.ftpclient import FTPClient, read_all
from ..support.harness import MemorySession, SessionHarness
from ..support.servers import RunningServer
from ..support.tlsclient import Certs, TLSClient, client_context, make_certs

StartServer = Callable[..., Awaitable[RunningServer]]

PREFIX = "127.0.0.1:5000-[user]"


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The audit lines logged so far (every record that carries an event)."""
    return [r.getMessage() for r in caplog.records if event_of(r) is not None]


def audit_events(caplog: pytest.LogCaptureFixture) -> list[AuditEvent]:
    return [e for r in caplog.records if (e := event_of(r)) is not None]


async def logged_in(session: MemorySession, caplog: pytest.LogCaptureFixture) -> FTPClient:
    """Read the greeting, log in as user/pass, and forget the log so far."""
    client = session.client
    assert (await client.reply()).code == 220
    assert (await client.login()).code == 230
    caplog.clear()
    return client


@pytest.fixture(autouse=True)
def info_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trioftp")


async def test_filesystem_commands_are_logged_with_path_and_code(
    session_harness: SessionHarness,
    home: Path,
    autojump_clock: MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (home / "a.txt").write_bytes(b"abc")
    client = await logged_in(session_harness(), caplog)
    for line, code in [
        ("TYPE I", 200),
        ("MKD d", 257),
        ("CWD d", 250),
        ("PWD", 257),
        ("CDUP", 250),
        ("RNFR a.txt", 350),
        ("RNTO d/b.txt", 250),
        ("SIZE d/b.txt", 213),
        ("MDTM d/b.txt", 213),
        ("MLST d/b.txt", 250),
        ("STAT d", 213),
        ("STAT", 211),
        ("SITE CHMOD 600 d/b.txt", 200),
        ("MFMT 20200101000000 d/b.txt", 213),
        ("DELE d/b.txt", 250),
        ("XMKD e", 257),
        ("XRMD e", 250),
        ("RMD d", 250),
        ("NOOP", 200),
    ]:
        assert (await client.cmd(line)).code == code, line
    # TYPE, PWD, STAT without a path and NOOP reveal nothing of the filesystem.
    assert audit_lines(caplog) == [
        f"{PREFIX} MKD /d 257",
        f"{PREFIX} CWD /d 250",
        f"{PREFIX} CDUP / 250",
        f"{PREFIX} RNFR /a.txt 350",
        f"{PREFIX} RNTO /d/b.txt 250",
        f"{PREFIX} SIZE /d/b.txt 213",
        f"{PREFIX} MDTM /d/b.txt 213",
        f"{PREFIX} MLST /d/b.txt 250",
        f"{PREFIX} STAT /d 213",
        f"{PREFIX} SITE CHMOD /d/b.txt 200",
        f"{PREFIX} MFMT /d/b.txt 213",
        f"{PREFIX} DELE /d/b.txt 250",
        f"{PREFIX} XMKD /e 257",
        f"{PREFIX} XRMD /e 250",
        f"{PREFIX} RMD /d 250",
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records)
    mkd = audit_events(caplog)[0]
    assert mkd == AuditEvent(
        "command", mkd.session, "127.0.0.1:5000", "user", command="MKD", path="/d", code=257
    )


async def test_failed_commands_are_logged_with_their_reason(
    session_harness: SessionHarness,
    home: Path,
    autojump_clock: MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (home / "d").mkdir()
    (home / "f").write_bytes(b"")
    client = await logged_in(session_harness(perm="elrm"), caplog)
    for line, code in [
        ("TYPE I", 200),
        ("MKD d", 550),
        ("RMD gone", 550),  # no "d" permission
        ("DELE f", 550),
        ("CWD f", 550),
        ("RNFR gone", 550),  # no "f" permission
        ("RNTO x", 503),
        ("SIZE gone", 550),
        ("MDTM d", 550),
        ("RETR f", 425),
        ("PORT 127,0,0,1,19,136", 200),
        ("RETR gone", 550),
        ("LIST /gone", 550),
        ("MKD ../../outside", 257),  # clamped to the root: /outside
    ]:
        assert (await client.cmd(line)).code == code, line
    assert audit_lines(caplog) == [
        f"{PREFIX} MKD /d 550 'File exists.'",
        f"{PREFIX} RMD /gone 550 'Not enough privileges.'",
        f"{PREFIX} DELE /f 550 'Not enough privileges.'",
        f"{PREFIX} CWD /f 550 'Not a directory.'",
        f"{PREFIX} RNFR /gone 550 'Not enough privileges.'",
        f"{PREFIX} RNTO /x 503 'Bad sequence of commands: use RNFR first.'",
        f"{PREFIX} SIZE /gone 550 'No such file or directory.'",
        f"{PREFIX} MDTM /d 550 '\"/d\" is not retrievable.'",
        f"{PREFIX} RETR /f 425 'Use PORT/EPRT or PASV/EPSV first.'",
        f"{PREFIX} RETR /gone 550 'No such file or directory.'",
        f"{PREFIX} LIST /gone 550 'No such file or directory.'",
        f"{PREFIX} MKD /outside 257",
    ]
    rnto = audit_events(caplog)[5]
    assert (rnto.command, rnto.path, rnto.code, rnto.reason) == (
        "RNTO",
        "/x",
        503,
        "Bad sequence of commands: use RNFR first.",
    )


async def test_commands_before_login_are_logged_with_their_argument(
    session_harness: SessionHarness, autojump_clock: MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    session = session_harness()
    client = session.client
    assert (await client.reply()).code == 220
    assert (await client.cmd("MKD x")).code == 530
    assert (await client.cmd("USER user")).code == 331
    assert (await client.cmd("PASS wrong")).code == 530
    assert audit_lines(caplog) == [
        "127.0.0.1:5000-[] FTP session opened (connect)",
        "127.0.0.1:5000-[] MKD x 530 'Log in with USER and PASS first.'",
        "127.0.0.1:5000-[user] USER 'user' failed login.",
    ]
    assert [r.levelname for r in caplog.records] == ["INFO", "INFO", "WARNING"]
    assert [e.event for e in audit_events(caplog)] == ["connect", "command", "login_failed"]


class DeniedUploads(AbstractedFS):
    """A filesystem whose files can be read but never opened for writing."""

    def open(self, filename: str, mode: str) -> IO[bytes]:
        if "w" in mode or "a" in mode:
            raise PermissionError(errno.EACCES, "Permission denied", filename)
        return super().open(filename, mode)


async def test_transfers_are_logged_with_bytes_seconds_rate_and_reason(
    session_harness: SessionHarness,
    home: Path,
    autojump_clock: MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (home / "a.txt").write_bytes(b"abcde")
    session = session_harness()
    client = await logged_in(session, caplog)
    assert (await client.cmd("TYPE I")).code == 200
    # A download; memory streams take no (mock) time.
    assert (await client.cmd("PORT 127,0,0,1,19,136")).code == 200
    assert (await client.cmd("RETR a.txt")).code == 150
    assert await read_all(await session.data_peers.receive()) == b"abcde"
    assert (await client.reply()).code == 226
    # An upload that takes 2 seconds.
    assert (await client.cmd("PORT 127,0,0,1,19,136")).code == 200
    assert (await client.cmd("STOR up.bin")).code == 150
    data = await session.data_peers.receive()
    await trio.sleep(2)
    await data.send_all(b"x" * 1000)
    await data.aclose()
    assert (await client.reply()).code == 226
    # A listing is logged as a command: it moves no file.
    assert (await client.cmd("PORT 127,0,0,1,19,136")).code == 200
    assert (await client.cmd("NLST")).code == 150
    assert await read_all(await session.data_peers.receive()) == b"a.txt\r\nup.bin\r\n"
    assert (await client.reply()).code == 226
    assert audit_lines(caplog) == [
        f"{PREFIX} RETR /a.txt completed=1 bytes=5 seconds=0.000",
        f"{PREFIX} STOR /up.bin completed=1 bytes=1000 seconds=2.000 rate=500B/s",
        f"{PREFIX} NLST / 226",
    ]
    retr, stor, _ = audit_events(caplog)
    assert stor == AuditEvent(
        "transfer",
        stor.session,
        "127.0.0.1:5000",
        "user",
        command="STOR",
        path="/up.bin",
        code=226,
        bytes=1000,
        seconds=2.0,
        direction="in",
        completed=True,
        transfer_type="binary",
        anonymous=False,
    )
    assert stor.rate == 500.0
    assert (retr.direction, retr.rate) == ("out", None)


async def test_an_upload_that_cannot_open_its_file_logs_the_os_error(
    session_harness: SessionHarness, autojump_clock: MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    session = session_harness(abstracted_fs=DeniedUploads)
    client = await logged_in(session, caplog)
    assert (await client.cmd("PORT 127,0,0,1,19,136")).code == 200
    assert (await client.cmd("STOR new.txt")).code == 150
    data = await session.data_peers.receive()
    reply = await client.reply()
    assert reply.first == "550 Permission denied; transfer aborted."
    await data.aclose()
    assert audit_lines(caplog) == [
        f"{PREFIX} STOR /new.txt completed=0 bytes=0 seconds=0.000 code=550 "
        "reason='Permission denied'"
    ]
    (event,) = audit_events(caplog)
    assert (event.completed, event.code, event.reason) == (False, 550, "Permission denied")


async def test_an_aborted_download_is_logged_as_incomplete(
    session_harness: SessionHarness,
    home: Path,
    autojump_clock: MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (home / "big").write_bytes(b"z" * 1_000_000)
    session = session_harness()
    client = await logged_in(session, caplog)
    assert (await client.cmd("PORT 127,0,0,1,19,136")).code == 200
    assert (await client.cmd("RETR big")).code == 150
    data = await session.data_peers.receive()
    assert (await client.cmd("ABOR")).code == 426
    assert (await client.reply()).code == 226
    await data.aclose()
    (line,) = audit_lines(caplog)
    assert line.startswith(f"{PREFIX} RETR /big completed=0 bytes=")
    assert line.endswith(" seconds=0.000 code=426 reason='Transfer aborted'")


# --- pyftpdlib's hooks


async def test_log_cmd_override_sees_every_command(
    session_harness: SessionHarness, autojump_clock: MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[str, str, int, str]] = []

    class Recording(FTPHandler):
        def log_cmd(self, cmd: str, arg: str, respcode: int, respstr: str) -> None:
            seen.append((cmd, arg, respcode, respstr))

    client = session_harness(Recording).client
    assert (await client.reply()).code == 220
    assert (await client.cmd("USER user")).code == 331
    assert (await client.cmd("PASS pass")).code == 230
    assert (await client.cmd("MKD new")).code == 257
    assert (await client.cmd("RMD gone")).code == 550
    assert (await client.cmd("BOGUS")).code == 500
    assert seen == [
        ("USER", "user", 331, "Username ok, send password."),
        ("PASS", "******", 230, "Login successful."),
        ("MKD", "/new", 257, '"/new" directory created.'),
        ("RMD", "/gone", 550, "No such file or directory."),
        ("BOGUS", "", 500, 'Command "BOGUS" not understood.'),
    ]
    # The override replaced the stock lines.
    assert [line for line in audit_lines(caplog) if " MKD " in line] == []


async def test_log_cmds_list_chooses_the_commands(
    session_harness: SessionHarness, autojump_clock: MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    session = session_harness(log_cmds_list=["RMD", "NOOP"])
    client = await logged_in(session, caplog)
    assert (await client.cmd("MKD new")).code == 257
    assert (await client.cmd("RMD new")).code == 250
    assert (await client.cmd("NOOP")).code == 200
    assert audit_lines(caplog) == [f"{PREFIX} RMD /new 250", f"{PREFIX} NOOP 200"]


async def test_log_and_log_transfer_overrides_get_the_lines(
    session_harness: SessionHarness,
    home: Path,
    autojump_clock: MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (home / "a.txt").write_bytes(b"abc")
    logged: list[str] = []
    transfers: list[tuple[object, ...]] = []

    class Custom(FTPHandler):
        def log(self, msg: str, logfun: object = None) -> None:
            logged.append(msg)

        def log_transfer(
            self,
            cmd: str,
            filename: str,
            receive: bool,
            completed: bool,
            elapsed: float,
            bytes: int,
        ) -> None:
            transfers.append((cmd, filename, receive, completed, elapsed, bytes))

    session = session_harness(Custom)
    client = await logged_in(session, caplog)
    assert (await client.cmd("MKD d")).code == 257
    assert (await client.cmd("PORT 127,0,0,1,19,136")).code == 200
    assert (await client.cmd("RETR a.txt")).code == 150
    assert await read_all(await session.data_peers.receive()) == b"abc"
    assert (await client.reply()).code == 226
    assert logged == [
        "FTP session opened (connect)",
        "USER 'user' logged in.",
        "MKD /d 257",
    ]
    assert transfers == [("RETR", str(home / "a.txt"), False, True, 0.0, 3)]
    assert audit_lines(caplog) == []


async def test_anonymous_logout_and_disconnect_lines(
    session_harness: SessionHarness, autojump_clock: MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    session = session_harness()
    client = session.client
    assert (await client.reply()).code == 220
    assert (await client.login("anonymous", "me@example.com")).code == 230
    assert (await client.cmd("REIN")).code == 220
    assert (await client.cmd("QUIT")).code == 221
    await session.ended.wait()
    assert audit_lines(caplog) == [
        "127.0.0.1:5000-[] FTP session opened (connect)",
        "127.0.0.1:5000-[anonymous] USER 'anonymous' logged in.",
        "127.0.0.1:5000-[] USER 'anonymous' logged out.",  # told after the logout
        "127.0.0.1:5000-[] REIN 220",
        "127.0.0.1:5000-[] FTP session closed (disconnect).",
    ]
    events = audit_events(caplog)
    assert [e.event for e in events] == ["connect", "login", "logout", "command", "disconnect"]
    assert len({e.session for e in events}) == 1
    assert [e.user for e in events] == ["", "anonymous", "anonymous", "", ""]


# --- addresses and TLS


async def test_ipv6_addresses_are_logged_in_brackets(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(host="::1")
    client = await server.client()
    port = client.stream.socket.getsockname()[1]
    assert (await client.cmd("MKD d")).code == 257
    assert audit_lines(caplog) == [
        f"[::1]:{port}-[] FTP session opened (connect)",
        f"[::1]:{port}-[user] USER 'user' logged in.",
        f"[::1]:{port}-[user] MKD /d 257",
    ]
    assert {e.remote for e in audit_events(caplog)} == {f"[::1]:{port}"}
    await client.aclose()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


async def test_a_failed_tls_handshake_is_logged_with_its_reason(
    start_server: StartServer, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(base=TLS_FTPHandler, certfile=certs.certfile, keyfile=certs.keyfile)
    client = await server.client(login=False)
    port = client.stream.socket.getsockname()[1]
    assert (await client.cmd("AUTH TLS")).code == 234
    # Not a TLS ClientHello: an HTTP request.
    await client.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await client.at_eof()
    failed = [r for r in caplog.records if "TLS handshake" in r.getMessage()]
    assert len(failed) == 1
    line = failed[0].getMessage()
    prefix = f"127.0.0.1:{port}-[] TLS handshake on the control connection failed: "
    assert line.startswith(prefix)
    reason = line.removeprefix(prefix)
    # The ssl module's own text, e.g. "[SSL: HTTP_REQUEST] http request (_ssl.c:1000)".
    assert re.fullmatch(r"SSLError: \[SSL: [A-Z_]+\] [a-z ]+ \(_ssl\.c:\d+\)", reason), reason
    event = event_of(failed[0])
    assert event is not None
    assert (event.event, event.reason) == ("tls_failed", reason)


async def test_a_failed_data_handshake_is_logged_with_its_reason(
    start_server: StartServer, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(base=TLS_FTPHandler, certfile=certs.certfile, keyfile=certs.keyfile)
    (server.home / "a.bin").write_bytes(b"original")
    client, greeting = await TLSClient.open(server.host, server.port, client_context(certs.ca))
    assert greeting.code == 220
    await client.secure("P")
    port = client.transport.socket.getsockname()[1]
    caplog.clear()
    stream = await client.pasv()
    assert (await client.cmd("RETR a.bin")).code in (125, 150)
    await stream.send_all(b"this is not a TLS ClientHello\r\n\r\n")
    reply = await client.reply()
    assert reply.first == "425 TLS negotiation on the data connection failed."
    await stream.aclose()
    lines = audit_lines(caplog)
    assert len(lines) == 2, lines
    ssl_error = r"SSLError: \[SSL: [A-Z_]+\] [a-z ]+ \(_ssl\.c:\d+\)"
    who = re.escape(f"127.0.0.1:{port}-[user]")
    assert re.fullmatch(
        rf"{who} TLS handshake on the data connection failed: {ssl_error}", lines[0]
    ), lines[0]
    assert re.fullmatch(
        rf"{who} RETR /a\.bin completed=0 bytes=0 seconds=\d+\.\d{{3}}( rate=0B/s)? code=425 "
        rf"reason='data connection TLS handshake failed: {ssl_error}'",
        lines[1],
    ), lines[1]
