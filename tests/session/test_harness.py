"""The session harness: a plain FTPHandler session on memory streams, on Trio's MockClock."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from ..support.harness import MemorySession, SessionHarness


async def login(session: MemorySession) -> None:
    client = session.client
    assert (await client.reply()).code == 220
    assert (await client.cmd("USER user")).lines == ("331 Username ok, send password.",)
    assert (await client.cmd("PASS pass")).lines == ("230 Login successful.",)


async def test_greeting(
    session_harness: SessionHarness, autojump_clock: trio.testing.MockClock
) -> None:
    session = session_harness(banner="Memory streams ready.")
    assert (await session.client.reply()).lines == ("220 Memory streams ready.",)
    assert not session.ended.is_set()


async def test_login_on_the_home_directory(
    session_harness: SessionHarness, home: Path, autojump_clock: trio.testing.MockClock
) -> None:
    (home / "a.txt").write_bytes(b"hello\n")
    session = session_harness()
    await login(session)
    assert session.home == home
    assert (await session.client.cmd("TYPE I")).lines == ("200 Type set to: Binary.",)
    assert (await session.client.cmd("SIZE a.txt")).lines == ("213 6",)
    assert session.handler.authenticated
    assert session.handler.username == "user"


async def test_idle_timeout_after_exactly_the_configured_seconds(
    session_harness: SessionHarness, autojump_clock: trio.testing.MockClock
) -> None:
    session = session_harness(timeout=30)
    await login(session)
    start = trio.current_time()
    assert (await session.client.reply()).lines == ("421 Control connection timed out.",)
    assert trio.current_time() - start == 30
    assert await session.client.read_line() is None
    with trio.fail_after(1):
        await session.ended.wait()


async def test_pwd(session_harness: SessionHarness, autojump_clock: trio.testing.MockClock) -> None:
    session = session_harness()
    await login(session)
    assert (await session.client.cmd("PWD")).lines == ('257 "/" is the current directory.',)
    assert (await session.client.cmd("QUIT")).lines == ("221 Goodbye.",)
    with trio.fail_after(1):
        await session.ended.wait()
