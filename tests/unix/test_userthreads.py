"""UserThreadRunner: threads that switched themselves to one user, and nothing else did."""

from __future__ import annotations

import os
import threading

import pytest
import trio
import trio.testing

from trioftp._threadcreds import (
    current_credentials,
    restore_thread_credentials,
    set_thread_credentials,
)
from trioftp.userthreads import SystemUser, UserThreadRunner

from ..support.accounts import Account, needs_root

pytestmark = needs_root

ROOT = ((0, 0, 0), (0, 0, 0))


def root_ids() -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    return os.getresuid(), os.getresgid()


async def test_calls_run_with_the_users_ids_and_groups(
    alice: Account,
) -> None:
    account = alice
    runner = UserThreadRunner(account.name)
    try:
        credentials = await runner.run(current_credentials)
        assert credentials.uids == (account.uid,) * 3
        assert credentials.gids == (account.gid,) * 3
        assert credentials.groups == tuple(sorted(set(os.getgrouplist(account.name, account.gid))))
        assert root_ids() == ROOT  # the event loop's thread never switched
        assert runner.user == SystemUser.lookup(account.name)
    finally:
        runner.close()


async def test_two_users_threads_at_once_keep_their_own_ids(
    alice: Account,
    bob: Account,
) -> None:
    """Both users' calls are running at the same moment, each as its user."""
    first, second = alice, bob
    runners = [UserThreadRunner(first.name), UserThreadRunner(second.name)]
    both_inside = threading.Barrier(2, timeout=10)

    def meet() -> tuple[int, int, int]:
        both_inside.wait()  # proves the two calls overlap
        seen = os.getresuid()
        both_inside.wait()
        return seen

    seen: dict[int, tuple[int, int, int]] = {}

    async def call(index: int) -> None:
        seen[index] = await runners[index].run(meet)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(call, 0)
            nursery.start_soon(call, 1)
    finally:
        for runner in runners:
            runner.close()
    assert seen == {0: (first.uid,) * 3, 1: (second.uid,) * 3}
    assert root_ids() == ROOT


async def test_errors_reach_the_caller_and_the_thread_goes_on(
    alice: Account,
) -> None:
    account = alice
    runner = UserThreadRunner(account.name, max_threads=1)
    try:
        with pytest.raises(PermissionError):
            await runner.run(os.listdir, "/root")
        assert await runner.run(os.geteuid) == account.uid
        assert runner.threads == 1
    finally:
        runner.close()


async def test_a_call_not_yet_started_is_cancelled_and_never_runs(
    alice: Account,
) -> None:
    runner = UserThreadRunner(alice.name, max_threads=1)
    release, started = threading.Event(), threading.Event()
    ran: list[str] = []

    def block() -> None:
        started.set()
        release.wait(10)

    late = trio.CancelScope()

    async def call_late() -> None:
        with late:
            await runner.run(ran.append, "late")

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(runner.run, block)
            await trio.to_thread.run_sync(started.wait, 10)
            nursery.start_soon(call_late)
            await trio.testing.wait_all_tasks_blocked()  # queued behind the blocked call
            late.cancel()
            release.set()
        assert late.cancelled_caught
        assert ran == []
    finally:
        runner.close()


async def test_close_ends_the_threads_and_a_later_call_still_runs(
    alice: Account,
) -> None:
    account = alice
    runner = UserThreadRunner(account.name)
    await runner.run(os.getpid)
    threads = [t for t in threading.enumerate() if t.name == f"trioftp user {account.name}"]
    assert len(threads) == 1
    runner.close()
    await trio.to_thread.run_sync(threads[0].join, 10)
    assert not threads[0].is_alive()
    assert runner.threads == 0
    assert await runner.run(os.geteuid) == account.uid  # a fresh thread, gone when idle
    runner.close()


async def test_an_unknown_user_runs_nothing() -> None:
    runner = UserThreadRunner("trioftp-no-such-user")
    ran: list[int] = []
    with pytest.raises(PermissionError, match="can't run as user 'trioftp-no-such-user'"):
        await runner.run(ran.append, 1)
    assert ran == []
    runner.close()


async def test_call_as_user_blocks_for_the_result_and_nests(
    alice: Account,
) -> None:
    account = alice
    runner = UserThreadRunner(account.name, max_threads=1)
    try:
        # From the event loop's thread: handed to the user's thread.
        assert runner.call_as_user(os.getresuid) == (account.uid,) * 3
        assert root_ids() == ROOT
        # From the user's own thread: a plain call (no deadlock with one thread).
        nested = await runner.run(runner.call_as_user, os.geteuid)
        assert nested == account.uid
        with pytest.raises(ZeroDivisionError):
            runner.call_as_user(divmod, 1, 0)
    finally:
        runner.close()


def test_a_thread_switched_with_keep_saved_can_switch_back(
    alice: Account,
) -> None:
    account = alice
    seen: list[object] = []

    def switch_and_back() -> None:
        before = current_credentials()
        set_thread_credentials(uid=account.uid, gid=account.gid, groups=[], keep_saved=True)
        seen.append(os.getresuid())
        restore_thread_credentials(before)
        seen.append(current_credentials() == before)

    thread = threading.Thread(target=switch_and_back)
    thread.start()
    thread.join(10)
    assert seen[0] == (0, account.uid, 0)
    assert seen[1] is True
    assert root_ids() == ROOT


async def test_an_idle_thread_exits_and_the_next_call_starts_another(alice: Account) -> None:
    runner = UserThreadRunner(alice.name)
    runner.idle_seconds = 0  # leave as soon as there is nothing to do
    try:
        for _ in range(2):
            assert await runner.run(os.geteuid) == alice.uid
            for thread in threading.enumerate():
                if thread.name == f"trioftp user {alice.name}":
                    await trio.to_thread.run_sync(thread.join, 10)
            assert runner.threads == 0
    finally:
        runner.close()
