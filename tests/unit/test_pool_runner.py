"""PoolRunner: the server's own worker threads, fed through one queue."""

from __future__ import annotations

import threading

import pytest
import trio

from trioftp.servers.threads import PoolRunner


async def wait_for_starts(started: threading.Semaphore, count: int) -> None:
    """Wait (off the event loop) until *count* calls have entered their function."""
    for _ in range(count):
        await trio.to_thread.run_sync(started.acquire)


async def test_calls_from_many_tasks_each_get_their_own_result() -> None:
    runner = PoolRunner(3)
    results: dict[int, int] = {}

    async def call(number: int) -> None:
        results[number] = await runner.run(pow, number, 2)

    try:
        async with trio.open_nursery() as nursery:
            for number in range(50):
                nursery.start_soon(call, number)
    finally:
        runner.close()
    assert results == {number: number * number for number in range(50)}
    assert runner.busy == 0


async def test_at_most_max_threads_calls_run_at_once() -> None:
    runner = PoolRunner(2)
    started = threading.Semaphore(0)
    gate = threading.Event()
    running = most = 0
    lock = threading.Lock()

    def work() -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        started.release()
        gate.wait()
        with lock:
            running -= 1
        return threading.current_thread().name

    names: list[str] = []

    async def call() -> None:
        names.append(await runner.run(work))

    try:
        async with trio.open_nursery() as nursery:
            for _ in range(6):
                nursery.start_soon(call)
            await wait_for_starts(started, 2)
            assert runner.busy == 6  # two running, four queued
            assert runner.threads == 2
            gate.set()
    finally:
        runner.close()
    assert most == 2
    assert len(names) == 6
    assert set(names) == {"trioftp-worker"}
    assert runner.busy == 0


async def test_a_started_call_is_waited_for_when_its_caller_is_cancelled() -> None:
    runner = PoolRunner(1)
    started = threading.Semaphore(0)
    gate = threading.Event()
    finished: list[str] = []

    def work() -> str:
        started.release()
        gate.wait()
        finished.append("work")
        return "done"

    returned: list[str] = []
    try:
        async with trio.open_nursery() as nursery:
            scope = trio.CancelScope()

            async def caller() -> None:
                with scope:
                    returned.append(await runner.run(work))
                    await trio.lowlevel.checkpoint()  # the cancellation arrives here
                    returned.append("not reached")

            nursery.start_soon(caller)
            await wait_for_starts(started, 1)
            scope.cancel()
            await trio.lowlevel.checkpoint()
            assert runner.busy == 1  # still waiting for the thread
            gate.set()
    finally:
        runner.close()
    assert finished == ["work"]
    assert returned == ["done"]
    assert scope.cancelled_caught
    assert runner.busy == 0


async def test_a_cancelled_caller_hands_nothing_over() -> None:
    runner = PoolRunner(1)
    calls: list[str] = []
    try:
        with trio.CancelScope() as scope:
            scope.cancel()
            await runner.run(calls.append, "ran")
    finally:
        runner.close()
    assert scope.cancelled_caught
    assert calls == []
    assert runner.threads == 0


async def test_exceptions_propagate_and_the_thread_keeps_serving() -> None:
    runner = PoolRunner(1)

    def fail() -> None:
        raise FileNotFoundError(2, "No such file", "/missing")

    try:
        with pytest.raises(FileNotFoundError) as raised:
            await runner.run(fail)
        assert raised.value.filename == "/missing"
        assert await runner.run(str.upper, "still here") == "STILL HERE"
        assert runner.threads == 1
    finally:
        runner.close()


async def test_close_joins_every_thread_and_a_later_call_starts_one_again() -> None:
    runner = PoolRunner(4)
    started = threading.Semaphore(0)
    gate = threading.Event()

    def work() -> threading.Thread:
        started.release()
        gate.wait()
        return threading.current_thread()

    threads: list[threading.Thread] = []

    async def call() -> None:
        threads.append(await runner.run(work))

    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(call)
        await wait_for_starts(started, 4)
        gate.set()
    assert len(set(threads)) == 4
    runner.close()
    assert runner.threads == 0
    assert not any(thread.is_alive() for thread in threads)
    try:
        assert await runner.run(threading.current_thread) not in threads
    finally:
        runner.close()


def test_max_threads_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        PoolRunner(0)
