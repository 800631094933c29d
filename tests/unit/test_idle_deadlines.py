"""IdleDeadlines: scopes cancelled exactly at their idle deadline, on MockClock."""

from __future__ import annotations

import trio
import trio.testing

from trioftp.session.idledeadlines import IdleDeadlines


async def _cancelled_at(scope: trio.CancelScope, times: dict[str, float], name: str) -> None:
    with scope:
        await trio.sleep_forever()
    times[name] = trio.current_time()


async def test_each_scope_is_cancelled_at_its_own_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    deadlines = IdleDeadlines.of_this_run()
    assert IdleDeadlines.of_this_run() is deadlines  # one per run
    times: dict[str, float] = {}
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for name, seconds in (("late", 60.0), ("early", 10.0), ("middle", 30.0)):
            scope = trio.CancelScope()
            deadlines.idle_until(scope, start + seconds)
            nursery.start_soon(_cancelled_at, scope, times, name)
    assert {name: at - start for name, at in times.items()} == {
        "early": 10,
        "middle": 30,
        "late": 60,
    }


async def test_an_earlier_deadline_wakes_the_keeper_sleeping_on_a_later_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    deadlines = IdleDeadlines.of_this_run()
    times: dict[str, float] = {}
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        slow = trio.CancelScope()
        deadlines.idle_until(slow, start + 300)
        nursery.start_soon(_cancelled_at, slow, times, "slow")
        await trio.sleep(5)  # the keeper sleeps until start + 300
        quick = trio.CancelScope()
        deadlines.idle_until(quick, trio.current_time() + 10)
        nursery.start_soon(_cancelled_at, quick, times, "quick")
    assert (times["quick"] - start, times["slow"] - start) == (15, 300)


async def test_a_deadline_moved_later_or_a_busy_scope_is_not_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    deadlines = IdleDeadlines.of_this_run()
    start = trio.current_time()
    moved, busy, forgotten = trio.CancelScope(), trio.CancelScope(), trio.CancelScope()
    for scope in (moved, busy, forgotten):
        deadlines.idle_until(scope, start + 10)
    await trio.sleep(5)
    deadlines.idle_until(moved, trio.current_time() + 10)
    deadlines.busy(busy)
    deadlines.forget(forgotten)
    await trio.sleep(9)  # past the first deadline, before the moved one
    assert [s.cancel_called for s in (moved, busy, forgotten)] == [False, False, False]
    await trio.sleep(2)
    assert moved.cancel_called
    await trio.sleep(1000)
    assert [s.cancel_called for s in (busy, forgotten)] == [False, False]
    deadlines.idle_until(busy, trio.current_time() + 1)  # idle again: its deadline runs
    await trio.sleep(2)
    assert [s.cancel_called for s in (busy, forgotten)] == [True, False]
