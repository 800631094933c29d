"""Bandwidth limits shared by sessions, per user and server-wide, on Trio's MockClock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from trioftp.limits import Bandwidth, TokenBucket
from trioftp.servers import FTPServer
from trioftp.session.runner import InlineRunner
from trioftp.userfile import UsersFileAuthorizer

from ..support.ftpclient import FTPClient
from ..support.servers import RunningServer, make_handler
from ..support.users import user_table, users_file

StartLimited = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
def clock(autojump_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    return autojump_clock


@pytest.fixture
def authorizer(home: Path, tmp_path: Path) -> UsersFileAuthorizer:
    limited = "[users.slow.limits]\nmax_upload_rate = 5000\nmax_download_rate = 5000\n"
    text = user_table("slow", home, "pw", perm='"elrw"') + limited
    text += user_table("fast", home, "pw", perm='"elrw"')
    return UsersFileAuthorizer(users_file(tmp_path / "users.toml", text))


@pytest.fixture
def start_limited(nursery: trio.Nursery, home: Path) -> StartLimited:
    """Start a server with the given FTPServer attributes; sessions run inline."""

    async def start(authorizer: object = None, **server_attributes: Any) -> RunningServer:
        attributes = {"authorizer": authorizer} if authorizer is not None else {}
        handler = make_handler(home, **attributes)
        server = FTPServer(("127.0.0.1", 0), handler, runner=InlineRunner())
        for name, value in server_attributes.items():
            setattr(server, name, value)
        host, port = await nursery.start(server.serve)
        return RunningServer(host, port, handler, home)

    return start


async def login(server: RunningServer, user: str = "user") -> FTPClient:
    """Log in as *user* (the users file's, password pw; or make_handler's user/pass)."""
    client, _ = await FTPClient.connect(server.host, server.port)
    assert (await client.login(user, "pass" if user == "user" else "pw")).code == 230
    assert (await client.cmd("TYPE I")).code == 200
    return client


async def test_token_bucket_on_the_mock_clock(clock: trio.testing.MockClock) -> None:
    bucket = TokenBucket(1000)
    assert bucket.take(1000) == 0  # starts full: one second's worth
    assert bucket.take(500) == pytest.approx(0.5)
    assert bucket.take(500) == pytest.approx(1.0)  # debts add up
    await trio.sleep(1.0)
    assert bucket.take(0) == 0
    await trio.sleep(10)
    assert bucket.take(1500) == pytest.approx(0.5)  # credit never exceeds the burst
    bandwidth = Bandwidth([TokenBucket(100), TokenBucket(50)], [])
    start = trio.current_time()
    await bandwidth.sent(150)  # the slower bucket decides
    assert trio.current_time() - start == pytest.approx(2.0)
    await bandwidth.received(10**9)  # no upload bucket: no wait
    assert trio.current_time() - start == pytest.approx(2.0)


async def test_server_wide_download_rate_is_shared_by_all_sessions(
    start_limited: StartLimited, home: Path, clock: trio.testing.MockClock
) -> None:
    server = await start_limited(max_download_rate=10_000)
    (home / "a.bin").write_bytes(b"a" * 30_000)
    (home / "b.bin").write_bytes(b"b" * 30_000)
    clients = [await login(server), await login(server)]
    start = trio.current_time()
    data, reply = await clients[0].retr("a.bin")
    assert (len(data), reply.first) == (30_000, "226 Transfer complete.")
    # One second's worth at once, then 10 kB/s: 30 kB take 2 s.
    assert trio.current_time() - start == pytest.approx(2.0)
    await trio.sleep(1)  # idle: the bucket fills up again (one second's worth)
    finished: dict[str, float] = {}
    start = trio.current_time()

    async def download(client: FTPClient, name: str) -> None:
        data, reply = await client.retr(name)
        assert data == name[0].encode() * 30_000
        assert reply.code == 226
        finished[name] = trio.current_time() - start

    async with trio.open_nursery() as nursery:
        nursery.start_soon(download, clients[0], "a.bin")
        nursery.start_soon(download, clients[1], "b.bin")
    # 60 kB between them: the last byte leaves 5 s after the start.
    assert max(finished.values()) == pytest.approx(5.0)


async def test_server_wide_upload_rate(
    start_limited: StartLimited, home: Path, clock: trio.testing.MockClock
) -> None:
    server = await start_limited(max_upload_rate=4_000)
    client = await login(server)
    start = trio.current_time()
    assert (await client.stor("up.bin", b"u" * 20_000)).first == "226 Transfer complete."
    assert trio.current_time() - start == pytest.approx(4.0)
    assert (home / "up.bin").read_bytes() == b"u" * 20_000


async def test_per_user_rate_is_shared_by_the_users_sessions_only(
    start_limited: StartLimited,
    authorizer: UsersFileAuthorizer,
    home: Path,
    clock: trio.testing.MockClock,
) -> None:
    server = await start_limited(authorizer)
    slow = [await login(server, "slow"), await login(server, "slow")]
    fast = await login(server, "fast")
    finished: dict[str, float] = {}
    start = trio.current_time()

    async def upload(client: FTPClient, name: str, size: int) -> None:
        assert (await client.stor(name, b"x" * size)).code == 226
        finished[name] = trio.current_time() - start

    async with trio.open_nursery() as nursery:
        nursery.start_soon(upload, slow[0], "s1.bin", 10_000)
        nursery.start_soon(upload, slow[1], "s2.bin", 10_000)
        nursery.start_soon(upload, fast, "f.bin", 1_000_000)
    # 20 kB at 5 kB/s after one second's worth: 3 s; the other user is not slowed.
    assert max(finished["s1.bin"], finished["s2.bin"]) == pytest.approx(3.0)
    assert finished["f.bin"] == 0
    for name, size in [("s1.bin", 10_000), ("s2.bin", 10_000), ("f.bin", 1_000_000)]:
        assert (home / name).stat().st_size == size
    # Downloads are limited too.
    start = trio.current_time()
    data, reply = await slow[0].retr("s1.bin")
    assert (len(data), reply.code) == (10_000, 226)
    assert trio.current_time() - start == pytest.approx(1.0)


async def test_user_and_server_limits_together_the_lower_wins(
    start_limited: StartLimited,
    authorizer: UsersFileAuthorizer,
    home: Path,
    clock: trio.testing.MockClock,
) -> None:
    server = await start_limited(authorizer, max_download_rate=20_000)
    (home / "big.bin").write_bytes(b"z" * 25_000)
    slow, fast = await login(server, "slow"), await login(server, "fast")
    start = trio.current_time()
    data, _ = await slow.retr("big.bin")
    assert len(data) == 25_000
    assert trio.current_time() - start == pytest.approx(4.0)  # the user's 5 kB/s
    start = trio.current_time()
    data, _ = await fast.retr("big.bin")
    assert len(data) == 25_000
    # The server's bucket lent the slow user its bytes: it refilled meanwhile.
    assert trio.current_time() - start == pytest.approx(0.25)
