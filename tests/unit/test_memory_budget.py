"""MemoryBudget: first come first served, cancellation, the cut to capacity, other runs."""

from __future__ import annotations

import threading

import pytest
import trio
import trio.testing

from trioftp.limits import MemoryBudget, MemoryShare


async def test_acquire_and_release_count_bytes() -> None:
    budget = MemoryBudget(100)
    await budget.acquire(60)
    assert budget.try_acquire(40)
    assert (budget.in_use, budget.peak) == (100, 100)
    assert not budget.try_acquire(1)
    budget.release(60)
    budget.release(40)
    assert (budget.in_use, budget.peak) == (0, 100)
    with pytest.raises(RuntimeError, match="only 0 are held"):
        budget.release(1)


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive capacity"):
        MemoryBudget(0)


async def test_a_request_larger_than_the_budget_is_cut_to_it() -> None:
    budget = MemoryBudget(100)
    assert budget.fit(1000) == 100
    await budget.acquire(1000)
    assert budget.in_use == 100
    budget.release(1000)
    assert budget.in_use == 0


async def test_waiters_go_in_order_and_a_large_one_is_not_overtaken(
    autojump_clock: trio.testing.MockClock,
) -> None:
    budget = MemoryBudget(100)
    await budget.acquire(50)
    await budget.acquire(40)
    granted: list[str] = []

    async def wait(name: str, size: int) -> None:
        await budget.acquire(size)
        granted.append(name)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait, "large", 80)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(wait, "small", 5)
        await trio.testing.wait_all_tasks_blocked()
        budget.release(40)
        await trio.testing.wait_all_tasks_blocked()
        # 50 bytes are free, enough for the small request, but the large one
        # came first: nobody jumps the line.
        assert granted == []
        assert budget.waiting == 2
        assert not budget.try_acquire(5)
        budget.release(50)
    assert sorted(granted) == ["large", "small"]
    assert (budget.in_use, budget.peak) == (85, 90)


async def test_a_cancelled_wait_takes_nothing_and_lets_the_next_in(
    autojump_clock: trio.testing.MockClock,
) -> None:
    budget = MemoryBudget(100)
    await budget.acquire(60)
    got: list[int] = []
    cancelled = trio.CancelScope()

    async def wait(size: int, scope: trio.CancelScope) -> None:
        with scope:
            await budget.acquire(size)
            got.append(size)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait, 50, cancelled)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(wait, 10, trio.CancelScope())
        await trio.testing.wait_all_tasks_blocked()
        # 40 bytes are free, but the 10 wait behind the 50.
        assert budget.waiting == 2
        assert got == []
        cancelled.cancel()  # the 50-byte wait leaves the line: the 10 fit now
    assert got == [10]
    assert (budget.in_use, budget.waiting) == (70, 0)


def test_a_waiter_in_another_run_is_woken() -> None:
    budget = MemoryBudget(10)
    waiting = threading.Event()
    got: list[int] = []

    async def waiter() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(budget.acquire, 10)
            await trio.testing.wait_all_tasks_blocked()
            waiting.set()
        got.append(budget.in_use)

    async def holder() -> None:
        await budget.acquire(10)
        thread = threading.Thread(target=trio.run, args=(waiter,))
        thread.start()
        await trio.to_thread.run_sync(waiting.wait)
        budget.release(10)
        await trio.to_thread.run_sync(thread.join, 10)
        assert not thread.is_alive()

    trio.run(holder)
    assert got == [10]


async def test_a_share_gives_back_what_it_holds() -> None:
    budget = MemoryBudget(100)
    share = MemoryShare(budget)
    await share.take(30)
    assert share.try_take(30)
    share.give_back(10)
    assert (share.held, budget.in_use) == (50, 50)
    share.close()
    assert (share.held, budget.in_use) == (0, 0)
    unlimited = MemoryShare(None)
    assert not unlimited.limited
    assert unlimited.try_take(1 << 40)
    assert unlimited.fit(1 << 40) == 1 << 40
    unlimited.close()
