"""Threads a server owns, and joins before it reports itself stopped.

Trio's own worker threads (``trio.to_thread``) are cached and linger for
a while after their last call, so a program - or pyftpdlib's test harness,
which checks that only the main thread is left once ``close_all()`` has
returned - would see them outlive the server. The servers therefore run
blocking work in threads of their own:

* :class:`PoolRunner` - the sessions' runner in the async and pre-fork
  models: at most ``max_threads`` threads for this run, fed through one
  queue and waking the waiting task directly (a short filesystem call such
  as SIZE or CWD pays little more than the thread switch), joined when the
  run ends;
* :func:`run_in_thread` - one call in a new thread of its own (a session of
  the thread model, starting or reaping a session process), joined before
  it returns.

Both wait like ``trio.to_thread.run_sync`` does by default: a call that
has started is waited for even if the caller is cancelled meanwhile (a
thread can't be interrupted), and its result is returned.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeAlias, TypeVar

import outcome
import trio

__all__ = ["PoolRunner", "run_in_thread"]

T = TypeVar("T")


async def _wait_for(start: Callable[[Callable[[], None]], None]) -> None:
    """Call ``start(done)``, then wait (uncancellably) until any thread calls ``done()``."""
    token = trio.lowlevel.current_trio_token()
    finished = trio.Event()

    def done() -> None:
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(finished.set)

    start(done)
    with trio.CancelScope(shield=True):
        await finished.wait()


async def run_in_thread(function: Callable[..., T], *args: Any, name: str = "trioftp") -> T:
    """Return ``function(*args)`` called in a new thread, joined before this returns."""
    await trio.lowlevel.checkpoint_if_cancelled()
    future: Future[T] = Future()
    thread: threading.Thread | None = None

    def start(done: Callable[[], None]) -> None:
        nonlocal thread

        def body() -> None:
            try:
                future.set_result(function(*args))
            except BaseException as exc:
                future.set_exception(exc)
            done()

        thread = threading.Thread(target=body, name=name, daemon=True)
        thread.start()

    await _wait_for(start)
    assert thread is not None
    thread.join()  # it has only its return left to do
    return future.result()


class PoolRunner:
    """Run blocking calls in at most *max_threads* threads of this server run.

    Each call is a tuple put on one :class:`queue.SimpleQueue` that the
    threads take work from; the thread that ran it wakes the waiting task
    directly (``run_sync_soon`` + :func:`trio.lowlevel.reschedule`), so a
    short call costs one queue hand-off and one scheduler pass each way - no
    executor ``Future``, callback list, :class:`trio.Event` or cancel scope.
    Threads are started as calls need them and live until :meth:`close`.
    """

    def __init__(self, max_threads: int) -> None:
        if max_threads < 1:
            raise ValueError("max_threads must be at least 1")
        #: The most threads (and so calls running at once) of this runner.
        self.max_threads = max_threads
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._busy = 0

    # Protected from KeyboardInterrupt (as trio.to_thread.run_sync is): one
    # raised between handing a call over and waiting for it would leave the
    # thread to reschedule a task that no longer waits.
    @trio.lowlevel.enable_ki_protection
    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Return ``function(*args)``, called in one of the runner's threads.

        A call that has been handed over is waited for even if the caller
        is cancelled meanwhile; the cancellation is delivered afterwards.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        task = trio.lowlevel.current_task()
        token = trio.lowlevel.current_trio_token()

        def deliver(result: outcome.Outcome[Any]) -> None:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(trio.lowlevel.reschedule, task, result)

        if self._busy >= len(self._threads) and len(self._threads) < self.max_threads:
            self._start_thread()
        self._busy += 1
        try:
            self._calls.put((function, args, deliver))
            result: T = await trio.lowlevel.wait_task_rescheduled(_uncancellable)
        finally:
            self._busy -= 1
        return result

    @property
    def busy(self) -> int:
        """Calls handed over and not finished (running, or queued for a thread)."""
        return self._busy

    @property
    def threads(self) -> int:
        """Threads alive now."""
        return len(self._threads)

    def close(self) -> None:
        """Stop and join the runner's threads (call once no call is in flight).

        A call made afterwards starts a thread again.
        """
        threads, self._threads = self._threads, []
        for _ in threads:
            self._calls.put(None)
        for thread in threads:
            thread.join()

    def _start_thread(self) -> None:
        thread = threading.Thread(
            target=_work, args=(self._calls,), name="trioftp-worker", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # the system's thread limit: make do with those running
            if not self._threads:
                raise
            return
        self._threads.append(thread)


#: A call for a :class:`PoolRunner` thread: function, arguments, and what
#: hands its outcome back to the waiting task.
_Call: TypeAlias = tuple[
    Callable[..., Any], tuple[Any, ...], Callable[[outcome.Outcome[Any]], None]
]


def _uncancellable(_raise_cancel: object) -> trio.lowlevel.Abort:
    """A call handed to a thread can't be taken back: wait for its outcome."""
    return trio.lowlevel.Abort.FAILED


def _work(calls: queue.SimpleQueue[_Call | None]) -> None:
    """A :class:`PoolRunner` thread: run calls until told to stop (None)."""
    while (call := calls.get()) is not None:
        function, args, deliver = call
        deliver(outcome.capture(function, *args))
        del call, function, args, deliver  # drop references while idle
