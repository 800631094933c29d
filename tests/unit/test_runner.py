"""Runners: where blocking work runs, and impersonation that is safe under concurrency."""

from __future__ import annotations

import threading
import time

import pytest
import trio

from trioftp.authorizers import DummyAuthorizer
from trioftp.session.runner import (
    ImpersonatingRunner,
    InlineRunner,
    ThreadRunner,
    impersonates,
    runner_for_login,
)


class SwitchingAuthorizer(DummyAuthorizer):
    """Impersonation that changes one process-wide 'effective user', as seteuid does."""

    def __init__(self) -> None:
        super().__init__()
        self.current: str | None = None
        self.switches = 0

    def impersonate_user(self, username: str, password: str) -> None:
        assert self.current is None, "impersonated while someone else was"
        self.current = username
        self.switches += 1

    def terminate_impersonation(self, username: str) -> None:
        assert self.current == username
        self.current = None


class PlainAuthorizer:
    """Not a DummyAuthorizer; its impersonation does nothing."""

    def impersonate_user(self, username: str, password: str) -> None:
        """Nothing to switch."""

    def terminate_impersonation(self, username: str) -> None:
        pass


class SessionRunnerAuthorizer(DummyAuthorizer):
    """Supplies a runner of its own for each login."""

    def session_runner(self, username: str, password: str, base: object) -> InlineRunner:
        return InlineRunner()


def test_which_authorizers_impersonate() -> None:
    assert not impersonates(DummyAuthorizer())
    assert not impersonates(PlainAuthorizer())
    assert impersonates(SwitchingAuthorizer())


def test_runner_chosen_at_login() -> None:
    base = ThreadRunner(4)
    assert runner_for_login(DummyAuthorizer(), "u", "p", base) is base
    assert runner_for_login(PlainAuthorizer(), "u", "p", base) is base
    assert isinstance(runner_for_login(SwitchingAuthorizer(), "u", "p", base), ImpersonatingRunner)
    assert isinstance(runner_for_login(SessionRunnerAuthorizer(), "u", "p", base), InlineRunner)


async def test_concurrent_users_never_run_with_each_others_rights() -> None:
    authorizer = SwitchingAuthorizer()
    base = ThreadRunner(8)
    seen: list[tuple[str, str | None]] = []

    def work(user: str) -> None:
        time.sleep(0.001)  # let other threads try to switch meanwhile
        seen.append((user, authorizer.current))

    async def user_session(user: str) -> None:
        runner = runner_for_login(authorizer, user, "pw", base)
        for _ in range(10):
            await runner.run(work, user)

    async with trio.open_nursery() as nursery:
        for user in ("alice", "bob", "carol"):
            nursery.start_soon(user_session, user)
    assert len(seen) == 30
    assert all(user == current for user, current in seen)
    assert authorizer.current is None  # never left switched after a call
    assert authorizer.switches == 30


async def test_nested_impersonated_call_does_not_deadlock() -> None:
    authorizer = SwitchingAuthorizer()
    runner = ImpersonatingRunner(ThreadRunner(2), authorizer, "alice", "pw")

    def inner() -> str | None:
        return authorizer.current

    with trio.fail_after(5):
        assert await runner.run(runner.call_as_user, inner) == "alice"
    assert authorizer.switches == 1


async def test_thread_runner_limits_concurrent_threads() -> None:
    runner = ThreadRunner(2)
    running = 0
    most = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01)
        with lock:
            running -= 1

    async with trio.open_nursery() as nursery:
        for _ in range(6):
            nursery.start_soon(runner.run, work)
    assert most == 2
    assert runner.busy == 0


async def test_thread_runner_without_a_size_shares_the_runs_limiter() -> None:
    runner = ThreadRunner()
    assert runner.limiter is trio.to_thread.current_default_thread_limiter()


async def test_inline_runner_runs_on_the_event_loop() -> None:
    assert await InlineRunner().run(threading.get_ident) == threading.get_ident()


async def test_runner_passes_exceptions_through() -> None:
    def fail() -> None:
        raise ValueError("boom")

    for runner in (InlineRunner(), ThreadRunner(1)):
        with pytest.raises(ValueError, match="boom"):
            await runner.run(fail)
