"""Threads a server owns, and joins before it reports itself stopped.

Trio's own worker threads (``trio.to_thread``) are cached and linger for
a while after their last call, so a program - or pyftpdlib's test harness,
which checks that only the main thread is left once ``close_all()`` has
returned - would see them outlive the server. The servers therefore run
blocking work in threads of their own:

* :class:`PoolRunner` - the sessions' runner in the async and pre-fork
  models: a pool of at most ``max_threads`` threads for this run, shut down
  (its threads joined) when the run ends;
* :func:`run_in_thread` - one call in a new thread of its own (a session of
  the thread model, starting or reaping a session process), joined before
  it returns.

Both wait like ``trio.to_thread.run_sync`` does by default: a call that
has started is waited for even if the caller is cancelled meanwhile (a
thread can't be interrupted), and its result is returned.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

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
    """Run blocking calls in a pool of at most *max_threads* threads of this server run."""

    def __init__(self, max_threads: int) -> None:
        self._pool = ThreadPoolExecutor(max_threads, thread_name_prefix="trioftp-worker")
        self._busy = 0

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Return ``function(*args)``, called in one of the pool's threads."""
        await trio.lowlevel.checkpoint_if_cancelled()
        future: Future[T] | None = None

        def start(done: Callable[[], None]) -> None:
            nonlocal future
            future = self._pool.submit(function, *args)
            future.add_done_callback(lambda _: done())

        self._busy += 1
        try:
            await _wait_for(start)
        finally:
            self._busy -= 1
        assert future is not None
        return future.result()

    @property
    def busy(self) -> int:
        """Calls submitted and not finished (running, or queued for a thread)."""
        return self._busy

    def close(self) -> None:
        """Join the pool's threads (call once no call is in flight)."""
        self._pool.shutdown(wait=True)
