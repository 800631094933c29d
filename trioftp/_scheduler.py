"""Scheduled calls: :class:`CallLater`, :class:`CallEvery` and the :class:`Scheduler` heap.

The heap knows nothing of Trio: it reads the time from the clock it is given
and :meth:`Scheduler.poll` runs the calls that are due. :mod:`trioftp._eventloop`
gives each running Trio loop a scheduler on Trio's clock (so tests run on
``MockClock``) and a task that polls it; calls made while no loop runs wait
in a scheduler on :func:`time.monotonic`, and move with their remaining delay.
The semantics are pyftpdlib's ``_CallLater``/``_CallEvery``.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Callable, Iterable
from typing import Any

from .log import logger

__all__ = ["CallEvery", "CallLater", "Scheduler", "SchedulingError"]


class SchedulingError(ValueError, AssertionError):
    """A negative delay, a target that is not callable, or a cancelled call reused.

    A :class:`ValueError`; also an :class:`AssertionError`, which pyftpdlib raised.
    """


class Scheduler:
    """The calls of one clock, soonest first; :meth:`poll` runs the due ones."""

    def __init__(
        self,
        clock: Callable[[], float],
        on_register: Callable[[CallLater], None] | None = None,
    ) -> None:
        """Read the time from *clock*; tell *on_register* of each call added."""
        self.clock = clock
        self._on_register = on_register
        # pyftpdlib's name: its test harness looks at the pending calls here.
        self._tasks: list[CallLater] = []
        self._cancellations = 0

    def register(self, call: CallLater) -> None:
        """Add *call* (made by :class:`CallLater`, or moved here)."""
        heapq.heappush(self._tasks, call)
        if self._on_register is not None:
            self._on_register(call)

    def unregister(self, call: CallLater) -> None:
        """Note that *call* was cancelled; it leaves the heap when due, or at a clean-up."""
        self._cancellations += 1

    def poll(self) -> float | None:
        """Run the calls that are due; return the seconds to the next one (None: none left).

        A call that raises is logged; the others still run.
        """
        now = self.clock()
        due: list[CallLater] = []
        tasks = self._tasks
        while tasks and tasks[0].timeout <= now:
            call = heapq.heappop(tasks)
            if call.cancelled:
                self._cancellations -= 1
            else:
                due.append(call)
        for index, call in enumerate(due):
            if call.cancelled:  # cancelled by a call that ran before it
                continue
            if call._repush:  # reset() since it was scheduled: wait again
                call._repush = False
                heapq.heappush(tasks, call)
                continue
            try:
                call.call()
            except Exception as exc:
                logger.exception(f"scheduled call {call!r} failed: {exc!r}")
            except BaseException:  # KeyboardInterrupt, SystemExit: the rest runs next time
                for rest in due[index + 1 :]:
                    heapq.heappush(tasks, rest)
                raise
        if self._cancellations > 512 and self._cancellations > len(tasks) >> 1:
            self.reheapify()
        return max(0.0, tasks[0].timeout - now) if tasks else None

    def next_delay(self) -> float | None:
        """Seconds until the next call is due (None: no call waits)."""
        live = [call.timeout for call in self._tasks if not call.cancelled]
        return max(0.0, min(live) - self.clock()) if live else None

    def reheapify(self) -> None:
        """Drop the cancelled calls from the heap."""
        self._cancellations = 0
        self._tasks = [call for call in self._tasks if not call.cancelled]
        heapq.heapify(self._tasks)

    def take_all(self) -> list[CallLater]:
        """Remove every live call and return it (to move it to another scheduler)."""
        calls = [call for call in self._tasks if not call.cancelled]
        self._tasks = []
        self._cancellations = 0
        return calls

    def adopt(self, calls: Iterable[CallLater], their_now: float) -> None:
        """Take *calls* from a scheduler whose clock read *their_now*, keeping their delays."""
        shift = self.clock() - their_now
        for call in calls:
            if call.timeout:  # 0 means "at the next poll" on every clock
                call.timeout += shift
            call._repush = False
            call._sched = self
            self.register(call)

    def close(self) -> None:
        """Cancel every call (a cancel that raises is logged)."""
        for call in list(self._tasks):
            try:
                if not call.cancelled:
                    call.cancel()
            except Exception as exc:
                logger.exception(f"cancelling {call!r} failed: {exc!r}")
        self._tasks = []
        self._cancellations = 0


class CallLater:
    """A call of *target* after *seconds*, returned by ``IOLoop.call_later``.

    ``cancel()`` unschedules it, ``reset()`` starts its countdown again,
    ``cancelled`` is True once it was cancelled or has run. A special
    ``_errback`` keyword gives a function called (without arguments) instead
    of logging when *target* raises.
    """

    __slots__ = (
        "_args",
        "_delay",
        "_errback",
        "_kwargs",
        "_repush",
        "_sched",
        "_target",
        "cancelled",
        "timeout",
    )

    def __init__(
        self,
        seconds: float,
        target: Callable[..., object],
        *args: Any,
        _scheduler: Scheduler,
        _errback: Callable[[], object] | None = None,
        **kwargs: Any,
    ) -> None:
        if not callable(target):
            raise SchedulingError(f"{target!r} is not callable")
        if not 0 <= seconds <= sys.maxsize:
            raise SchedulingError(f"{seconds} is not greater than or equal to 0 seconds")
        self._delay = seconds
        self._target: Callable[..., object] | None = target
        self._args: tuple[Any, ...] = args
        self._kwargs: dict[str, Any] = kwargs
        self._errback = _errback
        self._sched = _scheduler
        self._repush = False
        #: When the call is due, on its scheduler's clock (0: at the next poll).
        self.timeout = _scheduler.clock() + seconds if seconds else 0.0
        #: True once cancelled, or once a one-off call has run.
        self.cancelled = False
        _scheduler.register(self)

    def __lt__(self, other: CallLater) -> bool:
        return self.timeout < other.timeout

    def __le__(self, other: CallLater) -> bool:
        return self.timeout <= other.timeout

    def __repr__(self) -> str:
        target = object.__repr__(self) if self._target is None else repr(self._target)
        return (
            f"<{target} args={self._args or '[]'}, kwargs={self._kwargs or '{}'}, "
            f"cancelled={self.cancelled}, secs={self._delay}>"
        )

    def call(self) -> None:
        """Call the target now (the scheduler does this when the call is due)."""
        if self.cancelled or self._target is None:
            raise SchedulingError("already cancelled")
        failed = False
        try:
            self._target(*self._args, **self._kwargs)
        except Exception:
            failed = True
            if self._errback is None:
                raise
            self._errback()
        finally:
            self._after_call(failed)

    def _after_call(self, failed: bool) -> None:
        if not self.cancelled:
            self.cancel()

    def reset(self) -> None:
        """Start the countdown again from now."""
        if self.cancelled:
            raise SchedulingError("already cancelled")
        self.timeout = self._sched.clock() + self._delay
        self._repush = True

    def cancel(self) -> None:
        """Unschedule the call (nothing happens if it was cancelled already)."""
        if not self.cancelled:
            self.cancelled = True
            self._target = self._errback = None
            self._args, self._kwargs = (), {}
            self._sched.unregister(self)


class CallEvery(CallLater):
    """A call of *target* every *seconds*, returned by ``IOLoop.call_every``.

    It stops (is cancelled) when the target raises.
    """

    __slots__ = ()

    def _after_call(self, failed: bool) -> None:
        if self.cancelled:
            return
        if failed:
            self.cancel()
        else:
            self.timeout = self._sched.clock() + self._delay
            self._sched.register(self)
