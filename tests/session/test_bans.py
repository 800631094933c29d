"""Bans on Trio's MockClock: failed logins, command and connection floods, allow-lists."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from trioftp.servers import FTPServer
from trioftp.servers.bans import BANNED_REPLY, BanPolicy, Bans
from trioftp.session.runner import InlineRunner

from ..support.ftpclient import FTPClient
from ..support.servers import RunningServer, make_handler

BANNED = (BANNED_REPLY + "\r\n").encode()
StartBanned = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
def clock(autojump_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    return autojump_clock


@pytest.fixture
def start_banning(nursery: trio.Nursery, home: Path) -> StartBanned:
    """Start a server with ``Bans(BanPolicy(**policy))``, sessions run inline."""

    async def start(
        handler_attributes: dict[str, Any] | None = None, **policy: Any
    ) -> RunningServer:
        handler = make_handler(home, **(handler_attributes or {}))
        server = FTPServer(
            ("127.0.0.1", 0), handler, runner=InlineRunner(), bans=Bans(BanPolicy(**policy))
        )
        host, port = await nursery.start(server.serve)
        return RunningServer(host, port, handler, home)

    return start


async def raw_greeting(port: int, source: str = "127.0.0.1") -> bytes:
    """The first line a new connection from *source* gets; ``<EOF>`` added after a
    ``421`` if the server then closes the connection."""
    sock = trio.socket.socket()
    await sock.bind((source, 0))
    await sock.connect(("127.0.0.1", port))
    stream = trio.SocketStream(sock)
    data = b""
    async with stream:
        while not data.endswith(b"\r\n"):
            chunk = await stream.receive_some(1024)
            if not chunk:
                return data
            data += chunk
        if data.startswith(b"421") and await stream.receive_some(1) == b"":
            return data + b"<EOF>"
    return data


async def fail_logins(server: RunningServer, count: int) -> FTPClient:
    client = await server.client(login=False)
    for _ in range(count):
        assert (await client.login("user", "wrong")).first == "530 Authentication failed."
    return client


async def test_failed_logins_ban_the_host_for_the_ban_time(
    start_banning: StartBanned, clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "trioftp")
    server = await start_banning(
        {"max_login_attempts": 10}, max_login_failures=3, window=60, ban_time=300
    )
    guesser = await fail_logins(server, 3)
    assert "127.0.0.1 banned for 300 seconds: failed logins: 3 in 60 seconds" in caplog.messages
    # A banned host gets exactly the 421, before any greeting, and is closed.
    assert await raw_greeting(server.port) == BANNED + b"<EOF>"
    # Other hosts are served; the guesser's open session goes on.
    assert (await raw_greeting(server.port, "127.0.0.2")).startswith(b"220 ")
    assert (await guesser.login()).code == 230
    # The ban ends after ban_time seconds.
    await trio.sleep(299)
    assert await raw_greeting(server.port) == BANNED + b"<EOF>"
    await trio.sleep(1)
    assert (await raw_greeting(server.port)).startswith(b"220 ")
    assert "127.0.0.1 ban ended" in caplog.messages


async def test_failures_in_different_windows_do_not_add_up(
    start_banning: StartBanned, clock: trio.testing.MockClock
) -> None:
    server = await start_banning({"max_login_attempts": 10}, max_login_failures=3, window=60)
    client = await fail_logins(server, 2)
    await trio.sleep(60)
    for _ in range(2):
        assert (await client.login("user", "wrong")).code == 530
    assert (await raw_greeting(server.port)).startswith(b"220 ")
    # The third failure within the new window bans.
    assert (await client.login("user", "wrong")).code == 530
    assert await raw_greeting(server.port) == BANNED + b"<EOF>"


async def test_allowed_networks_are_never_banned(
    start_banning: StartBanned, clock: trio.testing.MockClock
) -> None:
    server = await start_banning(
        {"max_login_attempts": 10}, max_login_failures=2, allow=("127.0.0.0/31", "::1")
    )
    await fail_logins(server, 4)
    assert (await raw_greeting(server.port)).startswith(b"220 ")
    # 127.0.0.2 is outside the allowed network.
    sock = trio.socket.socket()
    await sock.bind(("127.0.0.2", 0))
    await sock.connect(("127.0.0.1", server.port))
    client = FTPClient(trio.SocketStream(sock))
    assert (await client.reply()).code == 220
    for _ in range(2):
        assert (await client.login("user", "wrong")).code == 530
    assert await raw_greeting(server.port, "127.0.0.2") == BANNED + b"<EOF>"
    assert (await raw_greeting(server.port)).startswith(b"220 ")


async def test_a_command_flood_bans_and_closes_the_hosts_sessions(
    start_banning: StartBanned, clock: trio.testing.MockClock
) -> None:
    server = await start_banning(max_commands=20, window=10)
    other = await server.client()  # 2 commands: USER, PASS
    flooder = await server.client(login=False)
    for _ in range(17):
        assert (await flooder.cmd("NOOP")).code == 200
    await flooder.send("NOOP")  # the 20th command from this host
    assert await flooder.at_eof()
    assert await other.at_eof()
    assert await raw_greeting(server.port) == BANNED + b"<EOF>"


async def test_commands_below_the_rate_are_fine(
    start_banning: StartBanned, clock: trio.testing.MockClock
) -> None:
    server = await start_banning(max_commands=10, window=10)
    client = await server.client()
    for _ in range(20):
        await trio.sleep(2)  # 5 commands per window
        assert (await client.cmd("NOOP")).code == 200


async def test_a_connection_flood_bans(
    start_banning: StartBanned, clock: trio.testing.MockClock
) -> None:
    server = await start_banning(max_connections=3, window=10, ban_time=30)
    for _ in range(2):
        assert (await raw_greeting(server.port)).startswith(b"220 ")
    assert await raw_greeting(server.port) == BANNED + b"<EOF>"
    await trio.sleep(30)
    assert (await raw_greeting(server.port)).startswith(b"220 ")


async def test_bans_for_programs(clock: trio.testing.MockClock) -> None:
    bans = Bans(BanPolicy(ban_time=10, allow=("10.0.0.0/8",)))
    bans.ban("::ffff:192.0.2.1")
    assert bans.is_banned("192.0.2.1")
    assert bans.refusal("192.0.2.1") == BANNED_REPLY
    bans.ban("10.1.2.3")
    assert not bans.is_banned("10.1.2.3")
    bans.unban("192.0.2.1")
    assert bans.refusal("192.0.2.1") is None
    bans.ban("2001:db8::1")
    await trio.sleep(10)
    assert not bans.is_banned("2001:DB8:0::1")


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"window": 0}, "window must be a positive number of seconds, not 0"),
        ({"ban_time": -1}, "ban_time must be a positive number of seconds, not -1"),
        ({"max_commands": -1}, "max_commands must be 0 (off) or more, not -1"),
        ({"allow": ("not-a-network",)}, "'not-a-network' does not appear to be an IPv4 or IPv6"),
    ],
)
def test_bad_policies_are_refused(policy: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        BanPolicy(**policy)
