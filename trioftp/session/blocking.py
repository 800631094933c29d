"""Where a session's blocking work runs, and how much of it at once (a part of the session).

Blocking calls - filesystem, authorizer, disk - go to a runner: the one the
session was given (its server's, else worker threads), or, after a login,
the one the authorizer chose for that user (:func:`.runner.runner_for_login`:
threads that are the user, for example). One session runs at most
``max_blocking_calls`` of them at once, so one session never takes the
threads every session shares.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import trio

from .runner import Runner, ThreadRunner, runner_for_login

__all__ = ["BlockingWork"]

T = TypeVar("T")

#: Worker threads from the run's default limiter, for sessions with no server.
_THREADS = ThreadRunner()


class BlockingWork:
    """The session's runners and its count of blocking calls under way."""

    #: Calls past this many of one session wait their turn (0: no limit).
    max_blocking_calls: int
    authorizer: Any
    _base_runner: Runner = _THREADS
    _login_runner: Runner | None = None
    _blocking_calls = 0  # blocking calls of this session under way
    # Where blocking calls past max_blocking_calls wait (made when first needed).
    _blocking_queue: trio.lowlevel.ParkingLot | None = None

    def _use_runner(self, runner: Runner | None, server: object) -> None:
        """Run blocking work in *runner*, else the server's, else worker threads."""
        if runner is None:
            runner = getattr(server, "runner", None)
        if runner is not None:
            self._base_runner = runner

    @property
    def runner(self) -> Runner:
        """Where this session's blocking work runs now (chosen at login)."""
        login_runner = self._login_runner
        return login_runner if login_runner is not None else self._base_runner

    def _choose_login_runner(self, username: str, password: str) -> None:
        """The runner of the user logging in (the authorizer decides)."""
        runner = runner_for_login(self.authorizer, username, password, self._base_runner)
        if runner is not self._base_runner or self._login_runner is not None:
            self._drop_login_runner()
            self._login_runner = None if runner is self._base_runner else runner

    def _drop_login_runner(self) -> None:
        """Forget the login's runner, closing it if it has threads of its own."""
        runner, self._login_runner = self._login_runner, None
        close = getattr(runner, "close", None)
        if callable(close):
            close()

    async def run_blocking(self, function: Callable[..., T], *args: Any) -> T:
        """Run a blocking call (filesystem, authorizer, disk) in the session's runner.

        After login the call runs as the user where the authorizer
        impersonates users (see :mod:`.runner`). At most
        :attr:`max_blocking_calls` of one session run at once, so one session
        never takes the threads every session shares.
        """
        limit = self.max_blocking_calls
        if limit and self._blocking_calls >= limit:
            if self._blocking_queue is None:
                self._blocking_queue = trio.lowlevel.ParkingLot()
            while self._blocking_calls >= limit:
                await self._blocking_queue.park()
        self._blocking_calls += 1
        try:
            return await self.runner.run(function, *args)
        finally:
            self._blocking_calls -= 1
            if self._blocking_queue is not None:
                self._blocking_queue.unpark()
