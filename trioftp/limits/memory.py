"""The server-wide budget of transfer buffer memory.

Every upload holds blocks of received bytes until they are written, and
every buffered download holds blocks read ahead of the network: a few
megabytes each, so a few hundred slow transfers could take gigabytes.
:class:`MemoryBudget` counts those bytes for the whole server (one per run,
``FTPServer.transfer_memory``). An upload waits for budget before it makes
a block; a download that finds the budget short reads small pieces instead
of reading ahead. :class:`MemoryShare` is one transfer's part of it.

Waiters are served first come, first served: a large request at the head of
the queue is not overtaken by smaller ones, so it can't starve. The budget
is shared by sessions in different Trio runs (the multi-thread model runs
each session in a run of its own), so it takes a lock and wakes each waiter
in its own run.
"""

from __future__ import annotations

import collections
import contextlib
import threading

import attrs
import trio

__all__ = ["MemoryBudget", "MemoryShare"]


@attrs.define(eq=False)
class _Waiter:
    """One task waiting for *size* bytes, woken in its own run."""

    size: int
    token: trio.lowlevel.TrioToken
    granted: trio.Event
    done: bool = False


class MemoryBudget:
    """Bytes of transfer buffers the whole server may hold at once.

    :meth:`acquire` waits (first come, first served) until the bytes are
    free; :meth:`try_acquire` takes them only if that needs no wait;
    :meth:`release` gives them back. A request larger than the whole budget
    is cut to the budget, so it waits for everything but never forever.
    """

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"a memory budget needs a positive capacity, not {capacity}")
        self._capacity = capacity
        self._in_use = 0
        self._peak = 0
        self._lock = threading.Lock()
        self._waiters: collections.deque[_Waiter] = collections.deque()

    @property
    def capacity(self) -> int:
        """The bytes the budget holds in all."""
        return self._capacity

    @property
    def in_use(self) -> int:
        """The bytes held now."""
        return self._in_use

    @property
    def peak(self) -> int:
        """The most bytes ever held at once (never more than :attr:`capacity`)."""
        return self._peak

    @property
    def waiting(self) -> int:
        """How many requests wait for bytes."""
        return len(self._waiters)

    def fit(self, size: int) -> int:
        """*size*, cut to the budget's capacity (what a request of *size* takes)."""
        return max(0, min(size, self._capacity))

    def try_acquire(self, size: int) -> bool:
        """Take *size* bytes if they are free and nobody waits before us."""
        size = self.fit(size)
        with self._lock:
            if self._waiters or self._in_use + size > self._capacity:
                return False
            self._take(size)
            return True

    async def acquire(self, size: int) -> None:
        """Take *size* bytes (cut by :meth:`fit`), waiting in line until they are free.

        Cancelling the wait takes nothing.
        """
        size = self.fit(size)
        await trio.lowlevel.checkpoint_if_cancelled()
        with self._lock:
            if not self._waiters and self._in_use + size <= self._capacity:
                self._take(size)
                waiter = None
            else:
                waiter = _Waiter(size, trio.lowlevel.current_trio_token(), trio.Event())
                self._waiters.append(waiter)
        if waiter is None:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        try:
            await waiter.granted.wait()
        except BaseException:
            with self._lock:
                granted = waiter.done
                if not granted:
                    self._waiters.remove(waiter)
                    woken = self._grant()
            if granted:  # granted while being cancelled: hand it on
                self.release(size)
            else:
                _wake(woken)
            raise

    def release(self, size: int) -> None:
        """Give back *size* bytes taken before, and wake who can go on now."""
        size = self.fit(size)
        with self._lock:
            if size > self._in_use:
                raise RuntimeError(f"released {size} bytes, only {self._in_use} are held")
            self._in_use -= size
            woken = self._grant()
        _wake(woken)

    def _take(self, size: int) -> None:
        self._in_use += size
        self._peak = max(self._peak, self._in_use)

    def _grant(self) -> list[_Waiter]:
        """Grant the waiters at the head of the line that fit now (lock held)."""
        woken = []
        while self._waiters and self._in_use + self._waiters[0].size <= self._capacity:
            waiter = self._waiters.popleft()
            waiter.done = True
            self._take(waiter.size)
            woken.append(waiter)
        return woken

    def __repr__(self) -> str:
        return (
            f"<MemoryBudget {self._in_use} of {self._capacity} bytes in use, "
            f"{len(self._waiters)} waiting>"
        )


def _wake(waiters: list[_Waiter]) -> None:
    """Set each granted waiter's event, in the run it waits in."""
    for waiter in waiters:
        try:
            current = trio.lowlevel.current_trio_token()
        except RuntimeError:
            current = None
        if waiter.token is current:
            waiter.granted.set()
        else:
            with contextlib.suppress(trio.RunFinishedError):  # its run is gone, and its wait
                waiter.token.run_sync_soon(waiter.granted.set)


class MemoryShare:
    """One transfer's part of a :class:`MemoryBudget` (or of none: no limit).

    The transfer takes bytes as it makes buffers and :meth:`close` gives
    back whatever it still holds when it ends, however it ends.
    """

    __slots__ = ("_budget", "held")

    def __init__(self, budget: MemoryBudget | None) -> None:
        self._budget = budget
        #: The bytes this transfer holds now.
        self.held = 0

    @property
    def limited(self) -> bool:
        """True if a budget bounds this transfer."""
        return self._budget is not None

    def fit(self, size: int) -> int:
        """The size of a buffer of *size* bytes under the budget (never past its capacity)."""
        budget = self._budget
        return size if budget is None else max(1, budget.fit(size))

    def try_take(self, size: int) -> bool:
        """Take *size* bytes if the budget has them free now."""
        budget = self._budget
        if budget is not None and not budget.try_acquire(size):
            return False
        self.held += size
        return True

    async def take(self, size: int) -> None:
        """Take *size* bytes, waiting for them if the budget is short."""
        if self._budget is not None:
            await self._budget.acquire(size)
        self.held += size

    def give_back(self, size: int) -> None:
        """Give back *size* of the bytes this transfer holds."""
        size = min(size, self.held)
        self.held -= size
        if self._budget is not None and size:
            self._budget.release(size)

    def close(self) -> None:
        """Give back everything this transfer still holds."""
        self.give_back(self.held)
