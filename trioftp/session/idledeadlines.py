"""Idle deadlines of many sessions, kept by one task instead of their cancel scopes.

A session is idle from the moment its replies start going out until its next
command line arrives; past its ``timeout`` it ends. Giving its cancel scope
that deadline would be simplest, but moving a Trio deadline costs its
bookkeeping (a few microseconds each time), and a session would move it
twice per command - a sixth of what a NOOP costs the server. Here a session
only writes its deadline in a dict (:meth:`IdleDeadlines.idle_until`,
:meth:`IdleDeadlines.busy`); one system task per Trio run sleeps until the
earliest deadline and cancels the scopes whose deadline has passed. A
deadline that moves later costs that task nothing until it wakes (and finds
the new one); one that would come before its wake-up moves its alarm.
"""

from __future__ import annotations

import math

import trio

__all__ = ["IdleDeadlines"]

_OF_THIS_RUN: trio.lowlevel.RunVar[IdleDeadlines] = trio.lowlevel.RunVar("trioftp_idle_deadlines")


class IdleDeadlines:
    """Cancels each registered scope once its idle deadline has passed."""

    __slots__ = ("_alarm", "_deadlines", "_wakes_at")

    def __init__(self) -> None:
        self._deadlines: dict[trio.CancelScope, float] = {}
        self._wakes_at = math.inf
        self._alarm: trio.CancelScope | None = None

    @classmethod
    def of_this_run(cls) -> IdleDeadlines:
        """The Trio run's keeper (started with the run's first session that asks)."""
        try:
            return _OF_THIS_RUN.get()
        except LookupError:
            keeper = cls()
            _OF_THIS_RUN.set(keeper)
            trio.lowlevel.spawn_system_task(keeper._keep, name="trioftp idle deadlines")
            return keeper

    def idle_until(self, scope: trio.CancelScope, deadline: float) -> None:
        """Cancel *scope* at *deadline* unless :meth:`busy` or this is called again first."""
        self._deadlines[scope] = deadline
        if deadline < self._wakes_at:
            self._wakes_at = deadline
            if self._alarm is not None:
                self._alarm.deadline = deadline

    def busy(self, scope: trio.CancelScope) -> None:
        """*scope* has no idle deadline for now (its session runs a command)."""
        self._deadlines[scope] = math.inf

    def forget(self, scope: trio.CancelScope) -> None:
        """Stop watching *scope* (its session has ended)."""
        self._deadlines.pop(scope, None)

    async def _keep(self) -> None:
        deadlines = self._deadlines
        while True:
            now = trio.current_time()
            expired = [scope for scope, deadline in deadlines.items() if deadline <= now]
            for scope in expired:
                del deadlines[scope]
                scope.cancel()
            self._wakes_at = min(deadlines.values(), default=math.inf)
            with trio.CancelScope(deadline=self._wakes_at) as self._alarm:
                await trio.sleep_forever()
