"""trioftp.ioloop's scheduled calls: order, cancel, reset, errors, hosting (MockClock)."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from trioftp.ioloop import AsyncChat, IOLoop, SchedulingError


@pytest.fixture
def clock(autojump_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    return autojump_clock


@pytest.fixture
async def loop() -> AsyncIterator[IOLoop]:
    """A fresh loop hosted by the test's run (tests on it take ``clock`` too)."""
    ioloop = IOLoop.factory()
    async with ioloop.running():
        yield ioloop
    ioloop.close()


async def test_calls_run_in_time_order_on_trio_clock(
    loop: IOLoop, clock: trio.testing.MockClock
) -> None:
    ran: list[tuple[float, float]] = []
    start = trio.current_time()
    for delay in [5, 4, 3, 2, 1]:
        loop.call_later(delay, lambda d: ran.append((d, trio.current_time() - start)), delay)
    await trio.sleep(10)
    assert ran == [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]


async def test_call_later_passes_args_and_kwargs_and_is_then_cancelled(
    loop: IOLoop, clock: trio.testing.MockClock
) -> None:
    seen: list[object] = []
    call = loop.call_later(1, lambda *a, **k: seen.append((a, k)), 1, 2, key="v")
    assert not call.cancelled
    await trio.sleep(2)
    assert seen == [((1, 2), {"key": "v"})]
    assert call.cancelled  # a one-off call is done once it ran


async def test_cancelled_calls_do_not_run(loop: IOLoop, clock: trio.testing.MockClock) -> None:
    ran: list[int] = []
    loop.call_later(1, ran.append, 1).cancel()
    loop.call_later(2, ran.append, 2)
    later = loop.call_later(3, ran.append, 3)
    await trio.sleep(2.5)
    later.cancel()
    later.cancel()  # twice is harmless
    await trio.sleep(5)
    assert ran == [2]


async def test_reset_restarts_the_countdown(loop: IOLoop, clock: trio.testing.MockClock) -> None:
    ran: list[float] = []
    start = trio.current_time()
    call = loop.call_later(3, lambda: ran.append(trio.current_time() - start))
    loop.call_later(4, lambda: ran.append(-4))
    await trio.sleep(2)
    call.reset()
    await trio.sleep(10)
    assert ran == [-4, 5]


async def test_call_every_repeats_until_cancelled(
    loop: IOLoop, clock: trio.testing.MockClock
) -> None:
    times: list[float] = []
    start = trio.current_time()
    call = loop.call_every(1, lambda: times.append(trio.current_time() - start))
    await trio.sleep(3.5)
    assert times == [1, 2, 3]
    assert not call.cancelled
    call.reset()  # next one 1 s from now: 4.5
    await trio.sleep(1.2)
    call.cancel()
    await trio.sleep(5)
    assert times == [1, 2, 3, 4.5]


def test_unhosted_calls_wait_in_sched_polled_by_hand() -> None:
    loop = IOLoop.factory()
    ticks: list[None] = []
    loop.call_every(0, ticks.append, None)
    for _ in range(5):
        loop.sched.poll()  # a call_every(0) runs once per poll, not in a loop
    assert ticks == [None] * 5
    loop.close()
    assert loop.sched.poll() is None


async def test_a_failing_call_is_logged_and_the_others_run(
    loop: IOLoop, clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []
    loop.call_later(1, lambda: 1 // 0)
    every = loop.call_every(1, lambda: 1 // 0)
    loop.call_later(1, ran.append, "after")
    loop.call_later(2, ran.append, "later")
    with caplog.at_level(logging.ERROR, logger="trioftp"):
        await trio.sleep(5)
    assert ran == ["after", "later"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2  # the call_every stopped after its first failure
    assert all("ZeroDivisionError" in r.getMessage() for r in errors)
    assert every.cancelled


async def test_errback_replaces_logging(
    loop: IOLoop, clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    failures: list[bool] = []
    loop.call_later(0, lambda: 1 // 0, _errback=lambda: failures.append(True))
    await trio.sleep(1)
    assert failures == [True]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_bad_calls_are_refused() -> None:
    loop = IOLoop.factory()
    with pytest.raises(SchedulingError):
        loop.call_later(-1, print)
    with pytest.raises(
        ValueError, match="not callable"
    ):  # SchedulingError is both, as pyftpdlib asserted
        loop.call_every(1, "not callable")  # type: ignore[arg-type]
    call = loop.call_later(3, print)
    call.cancel()
    assert call.cancelled
    with pytest.raises(AssertionError):
        call.reset()
    with pytest.raises(AssertionError):
        call.call()
    loop.close()


async def test_calls_made_before_hosting_keep_their_delay(clock: trio.testing.MockClock) -> None:
    loop = IOLoop.factory()
    ran: list[float] = []
    start = trio.current_time()
    loop.call_later(2, lambda: ran.append(trio.current_time() - start))
    assert len(loop.sched._tasks) == 1  # waiting: no run hosts the loop yet
    async with loop.running():
        assert loop.sched._tasks == []
        await trio.sleep(3)
    assert ran == [pytest.approx(2, abs=0.5)]
    loop.close()


async def test_calls_left_when_hosting_ends_wait_for_the_next_host(
    clock: trio.testing.MockClock,
) -> None:
    loop = IOLoop.factory()
    ran: list[str] = []
    async with loop.running():
        loop.call_later(10, ran.append, "late")
        await trio.sleep(1)
    assert ran == []
    assert len(loop.sched._tasks) == 1
    assert loop.sched.next_delay() == pytest.approx(9, abs=0.5)
    async with loop.running():
        await trio.sleep(10)
    assert ran == ["late"]
    loop.close()


async def test_nested_hosts_share_one_loop(loop: IOLoop, clock: trio.testing.MockClock) -> None:
    ran: list[str] = []
    async with loop.running():
        loop.call_later(1, ran.append, "inner")
    # the outer host still runs it
    await trio.sleep(2)
    assert ran == ["inner"]


async def test_loop_blocks_so_not_from_trio(loop: IOLoop, clock: trio.testing.MockClock) -> None:
    with pytest.raises(RuntimeError, match="running"):
        loop.loop()


def test_loop_runs_until_the_socket_map_is_empty() -> None:
    loop = IOLoop.factory()
    ends = socket.socketpair()
    try:
        chat = AsyncChat(ends[0], ioloop=loop)
        assert loop.socket_map == {ends[0].fileno(): chat}
        loop.call_later(0, chat.close)
        assert loop.loop() is None
        assert loop.socket_map == {}
        assert chat.socket is not None
        assert chat.socket.fileno() == -1
    finally:
        ends[1].close()
        loop.close()


def test_loop_once_returns_the_next_delay() -> None:
    loop = IOLoop.factory()
    ran: list[int] = []
    loop.call_later(0, ran.append, 1)
    loop.call_later(600, ran.append, 2)
    delay = loop.loop(blocking=False)
    assert ran == [1]
    assert delay is not None
    assert 590 < delay <= 600
    loop.close()
    assert loop.sched.next_delay() is None


def test_close_closes_owners_and_cancels_calls(caplog: pytest.LogCaptureFixture) -> None:
    loop = IOLoop.factory()

    class Broken:
        def close(self) -> None:
            raise RuntimeError("cannot close")

    class Gone:
        def close(self) -> None:
            raise OSError(9, "EBADF")  # already closed: not worth a log line

    closed: list[int] = []

    class Fine:
        def close(self) -> None:
            closed.append(1)

    loop.register(10, Broken())
    loop.register(11, Gone())
    loop.register(12, Fine())
    call = loop.call_every(1, print)
    with caplog.at_level(logging.ERROR, logger="trioftp"):
        loop.close()
    assert loop.socket_map == {}
    assert closed == [1]
    assert call.cancelled
    assert [r.getMessage() for r in caplog.records if "RuntimeError" in r.getMessage()]
    assert not [r for r in caplog.records if "EBADF" in r.getMessage()]


def test_instance_is_shared_until_closed() -> None:
    first = IOLoop.instance()
    assert IOLoop.instance() is first
    assert IOLoop.factory() is not first
    first.close()
    assert IOLoop.instance() is not first


def test_unregister_with_owner_spares_a_reused_descriptor() -> None:
    loop = IOLoop.factory()
    old, new = object(), object()
    loop.register(7, old)
    loop.unregister(7, old)
    loop.register(7, new)
    loop.unregister(7, old)  # the old owner leaving late does not remove the new one
    assert loop.socket_map == {7: new}
    loop.unregister(7)
    assert loop.socket_map == {}


async def test_a_call_raising_system_exit_does_not_crash_the_run(
    loop: IOLoop, clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    def leave() -> None:
        raise SystemExit(3)

    loop.call_later(1, leave)
    loop.call_later(1, ran.append, "same time")
    loop.call_later(2, ran.append, "after")
    await trio.sleep(3)
    assert ran == ["same time", "after"]
    assert "a scheduled call raised SystemExit(3); ignored" in caplog.text
