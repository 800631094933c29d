"""pyftpdlib's ``IOLoop`` on Trio: scheduled calls, the socket map, and the loop's tasks.

There is no poller to drive: Trio is the loop. An :class:`IOLoop` runs on a
Trio run while something *hosts* it there (``async with ioloop.running()``):
:meth:`FTPServer.serve <trioftp.servers.FTPServer.serve>` does, for as long as
the server serves, and so does :meth:`IOLoop.loop`, which starts a Trio run of
its own. While hosted, a task of that run (a Trio *system task*, so that it
outlives any one host) polls the run's scheduler on Trio's clock and runs the
loop's dispatchers (``AsyncChat``, ``Acceptor``, ``Connector``) as tasks.

Where a call runs:

* a call scheduled in a Trio run that hosts the loop runs on that run;
* a call scheduled anywhere else (before the server starts, in a plain
  thread) waits in :attr:`IOLoop.sched`, on :func:`time.monotonic`; the
  oldest run hosting the loop takes it over, with what is left of its delay,
  as soon as it starts (or at once, through its Trio token, if it runs);
* when the last host of a run leaves, the calls still waiting go back to
  :attr:`IOLoop.sched` and the dispatchers wait for the next host.

So every callback runs on the thread of a Trio run, never concurrently with
that run's sessions. A callback that raises is logged; the loop goes on.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Hashable
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import trio
import trio.testing

from ._scheduler import CallEvery, CallLater, Scheduler
from .log import config_logging, logger, logging_configured

__all__ = ["IOLoop", "LoopTask"]

C = TypeVar("C", bound=CallLater)


@runtime_checkable
class LoopTask(Protocol):
    """An object the loop runs as a task (``AsyncChat`` and its kinds are)."""

    async def run_dispatcher(self) -> None:
        """Serve until closed; return early only when cancelled."""
        ...


class _Driver:
    """One :class:`IOLoop` on one Trio run: its scheduler and its tasks."""

    def __init__(self, ioloop: IOLoop, token: trio.lowlevel.TrioToken) -> None:
        self.ioloop = ioloop
        self.token = token
        self.scheduler = Scheduler(trio.current_time, self._wake_for)
        self.hosts = 0
        self.nursery: trio.Nursery | None = None
        self.scope = trio.CancelScope()
        self.done = trio.Event()
        self.map_changed = trio.Event()
        self._sleep = trio.CancelScope()
        self._to_start: list[LoopTask] = []
        #: Set when the last host left: nothing more is handed to this driver.
        self.stopped = False

    def _wake_for(self, call: CallLater) -> None:
        """A call was added: make sure the poll task is awake by its time."""
        self._sleep.deadline = min(self._sleep.deadline, call.timeout)

    async def run(self) -> None:
        try:
            with self.scope:
                async with trio.open_nursery() as nursery:
                    self.nursery = nursery
                    for dispatcher in self._to_start:
                        self.start(dispatcher)
                    self._to_start.clear()
                    while True:
                        delay = self._poll()
                        deadline = trio.current_time() + delay if delay is not None else math.inf
                        with trio.CancelScope(deadline=deadline) as self._sleep:
                            await trio.sleep_forever()
        finally:
            self.nursery = None
            if self._to_start:  # stopped before it could start them: they wait on
                with self.ioloop._lock:
                    self.ioloop._waiting_dispatchers.extend(self._to_start)
                self._to_start.clear()
            self.done.set()

    def _poll(self) -> float | None:
        try:
            return self.scheduler.poll()
        except (KeyboardInterrupt, SystemExit) as exc:
            # Raised in this system task it would crash the whole run: stop
            # a server with close() or close_all() from a callback instead.
            logger.error(f"a scheduled call raised {exc!r}; ignored")
            return 0.0

    def adopt_waiting(self) -> None:
        """Take over the calls and dispatchers waiting for a loop (in this run's thread)."""
        if self.stopped:  # asked from another thread before it stopped: the next host will
            return
        calls, their_now, dispatchers = self.ioloop._take_waiting()
        self.scheduler.adopt(calls, their_now)
        for dispatcher in dispatchers:
            self.start(dispatcher)

    def start(self, dispatcher: LoopTask) -> None:
        """Run *dispatcher* as a task of this run (once the poll task has started)."""
        if self.nursery is None:
            self._to_start.append(dispatcher)
        else:
            self.nursery.start_soon(self.ioloop._run_dispatcher, dispatcher)

    def notify_map_changed(self) -> None:
        self.map_changed.set()
        self.map_changed = trio.Event()


class IOLoop:
    """pyftpdlib's event loop, on Trio: scheduled calls, a socket map, dispatcher tasks.

    ``IOLoop.instance()`` is the process-wide loop that servers, handlers and
    dispatchers use unless given another one (``IOLoop.factory()`` makes a
    new one). See the module documentation for where calls run.
    """

    #: Event masks of :meth:`register` and :meth:`modify` (kept for pyftpdlib code).
    READ = 1
    WRITE = 2

    _instance: ClassVar[IOLoop | None] = None
    _instance_lock: ClassVar[threading.Lock] = threading.Lock()
    _logging_checked: ClassVar[bool] = False

    def __init__(self) -> None:
        #: What owns each open socket of the loop: descriptor -> server,
        #: session (``FTPHandler``) or dispatcher, while it is open.
        self.socket_map: dict[Hashable, Any] = {}
        #: The calls waiting for a Trio run to host the loop (on ``time.monotonic``).
        self.sched = Scheduler(time.monotonic)
        self._lock = threading.RLock()
        self._drivers: dict[trio.lowlevel.TrioToken, _Driver] = {}
        self._waiting_dispatchers: list[LoopTask] = []
        self._owner_runs: dict[Hashable, trio.lowlevel.TrioToken | None] = {}

    @classmethod
    def instance(cls) -> IOLoop:
        """Return the process-wide loop (made on first use)."""
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    @classmethod
    def factory(cls) -> IOLoop:
        """Return a new loop, independent of :meth:`instance`."""
        return cls()

    def __repr__(self) -> str:
        calls = len(self.sched._tasks) + sum(
            len(d.scheduler._tasks) for d in self._drivers.values()
        )
        name = f"{type(self).__module__}.{type(self).__name__}"
        return f"<{name} (fds={len(self.socket_map)}, tasks={calls}) at {id(self):#x}>"

    def __enter__(self) -> IOLoop:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- where the caller runs

    def _current_driver(self) -> _Driver | None:
        """The driver of the Trio run this thread is in, if that run hosts the loop."""
        try:
            token = trio.lowlevel.current_trio_token()
        except RuntimeError:
            return None
        return self._drivers.get(token)

    def _primary_driver(self) -> _Driver | None:
        """The oldest run hosting the loop: it takes the calls made elsewhere."""
        with self._lock:
            return next(iter(self._drivers.values()), None)

    # --- scheduled calls

    def call_later(
        self, seconds: float, target: Callable[..., object], *args: Any, **kwargs: Any
    ) -> CallLater:
        """Call ``target(*args, **kwargs)`` once, *seconds* from now, on the loop.

        Returns the call: ``cancel()`` it, ``reset()`` its countdown, read
        ``cancelled``. A special ``_errback`` keyword argument is a function
        called instead of logging if *target* raises.
        """
        return self._schedule(CallLater, seconds, target, args, kwargs)

    def call_every(
        self, seconds: float, target: Callable[..., object], *args: Any, **kwargs: Any
    ) -> CallEvery:
        """Call ``target(*args, **kwargs)`` every *seconds* until cancelled (or it raises)."""
        return self._schedule(CallEvery, seconds, target, args, kwargs)

    def _schedule(
        self,
        kind: type[C],
        seconds: float,
        target: Callable[..., object],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> C:
        driver = self._current_driver()
        if driver is not None:
            return kind(seconds, target, *args, _scheduler=driver.scheduler, **kwargs)
        with self._lock:
            call = kind(seconds, target, *args, _scheduler=self.sched, **kwargs)
        self._hand_over_waiting()
        return call

    # --- the socket map

    def register(self, fd: Hashable, instance: object, events: int = READ) -> None:
        """Record that *instance* owns the socket *fd* (pyftpdlib's ``register``)."""
        token = _current_token()
        with self._lock:
            if fd not in self.socket_map:
                self.socket_map[fd] = instance
                self._owner_runs[fd] = token

    def unregister(self, fd: Hashable, instance: object = None) -> None:
        """Forget the owner of *fd*; with *instance*, only if it is still the owner."""
        with self._lock:
            if fd not in self.socket_map:
                return
            if instance is not None and self.socket_map[fd] is not instance:
                return  # the descriptor was closed and reused by someone else
            owner = self.socket_map.pop(fd)
            self._owner_runs.pop(fd, None)
            # loop() waits for the dispatchers to leave (sessions and servers are not its own).
            # (not isinstance(owner, LoopTask): a runtime protocol check is slow, and
            # every session ends here)
            runs_in_loop = callable(getattr(owner, "run_dispatcher", None))
            drivers = list(self._drivers.values()) if runs_in_loop else []
        for driver in drivers:
            _call_in_run(driver.token, driver.notify_map_changed)

    def modify(self, fd: Hashable, events: int) -> None:
        """Change the events of *fd*: nothing to do, Trio waits as each task needs."""

    # --- the loop's tasks

    def spawn(self, dispatcher: LoopTask) -> None:
        """Run *dispatcher* as a task of the loop: now if this run hosts it, else when one does."""
        driver = self._current_driver()
        if driver is not None:
            driver.start(dispatcher)
            return
        with self._lock:
            self._waiting_dispatchers.append(dispatcher)
        self._hand_over_waiting()

    async def _run_dispatcher(self, dispatcher: LoopTask) -> None:
        try:
            await dispatcher.run_dispatcher()
        except trio.Cancelled:
            # The run stopped hosting the loop: the next host goes on with it.
            with self._lock:
                self._waiting_dispatchers.append(dispatcher)
            raise
        except Exception as exc:  # a dispatcher's own errors go to its handle_error
            logger.exception(f"{dispatcher!r} failed: {exc!r}")

    def _take_waiting(self) -> tuple[list[CallLater], float, list[LoopTask]]:
        with self._lock:
            calls = self.sched.take_all()
            dispatchers, self._waiting_dispatchers = self._waiting_dispatchers, []
            return calls, self.sched.clock(), dispatchers

    def _hand_over_waiting(self) -> None:
        """Give what waits to the oldest hosting run (through its token from another thread)."""
        driver = self._primary_driver()
        if driver is not None:
            _call_in_run(driver.token, driver.adopt_waiting)

    # --- hosting the loop in a Trio run

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Host the loop on the current Trio run for the duration of the block.

        Servers do this while they serve; a Trio program running dispatchers
        of its own does it too. Nested and concurrent hosts share one task.
        """
        token = trio.lowlevel.current_trio_token()
        with self._lock:
            driver = self._drivers.get(token)
            if driver is None:
                driver = self._drivers[token] = _Driver(self, token)
                trio.lowlevel.spawn_system_task(driver.run, name=f"{self!r} on this run")
            driver.hosts += 1
        self._hand_over_waiting()
        try:
            yield
        finally:
            with self._lock:
                driver.hosts -= 1
                last = driver.hosts == 0
                if last:
                    del self._drivers[token]
                    driver.stopped = True
            if last:
                driver.scope.cancel()
                with trio.CancelScope(shield=True):
                    await driver.done.wait()
                with self._lock:
                    self.sched.adopt(driver.scheduler.take_all(), trio.current_time())
                self._hand_over_waiting()

    def loop(self, timeout: float | None = None, blocking: bool = True) -> float | None:
        """Run the loop in a Trio run of its own (not from inside a Trio run).

        With *blocking*, until no dispatcher (``AsyncChat``, ``Acceptor``,
        ``Connector``) is left in the socket map; *timeout* was pyftpdlib's
        poll interval and is not needed. Servers are served by their own
        ``serve_forever()``, not here. Without, one pass: what is ready runs, for at most
        *timeout* seconds (none: only what is ready now), then the calls that
        are due; returns the seconds to the next call (None: no call waits).
        """
        if _current_token() is not None:
            raise RuntimeError(
                "IOLoop.loop() blocks: in a Trio program use `async with ioloop.running():`"
            )
        if not IOLoop._logging_checked:
            IOLoop._logging_checked = True
            if not logging_configured():
                config_logging()
        if blocking:
            trio.run(self._loop_while_dispatchers)
            return None
        return trio.run(self._loop_once, timeout or 0)

    async def _loop_while_dispatchers(self) -> None:
        if not self._has_dispatchers():
            return  # as pyftpdlib's loop with no socket: nothing runs
        async with self.running():
            driver = self._drivers[trio.lowlevel.current_trio_token()]
            while True:
                changed = driver.map_changed
                if not self._has_dispatchers():
                    return
                await changed.wait()

    def _has_dispatchers(self) -> bool:
        with self._lock:
            return any(isinstance(owner, LoopTask) for owner in self.socket_map.values())

    async def _loop_once(self, seconds: float) -> float | None:
        async with self.running():
            await trio.sleep(seconds)
            # Let whatever became ready run (bounded: a dispatcher may stay busy).
            with trio.move_on_after(1):
                await trio.testing.wait_all_tasks_blocked()
            driver = self._drivers[trio.lowlevel.current_trio_token()]
            driver.scheduler.poll()
        with self._lock:
            return self.sched.next_delay()

    # --- closing

    def close(self) -> None:
        """Close every socket's owner, cancel every call, forget the shared instance.

        An owner whose ``close()`` raises is logged (``EBADF`` silently).
        Owners and calls of a run in another thread are closed in that run.
        """
        with self._instance_lock:
            if IOLoop._instance is self:
                IOLoop._instance = None
        with self._lock:
            owners = sorted(self.socket_map.items(), key=lambda item: _sort_key(item[0]))
            runs = dict(self._owner_runs)
            self.socket_map.clear()
            self._owner_runs.clear()
            drivers = list(self._drivers.values())
        for fd, owner in owners:
            _call_in_run(runs.get(fd), functools.partial(_close_owner, owner), wait=True)
        with self._lock:
            self.sched.close()
            self._waiting_dispatchers.clear()
        for driver in drivers:
            _call_in_run(driver.token, driver.scheduler.close, wait=True)
            _call_in_run(driver.token, driver.notify_map_changed)


def _close_owner(owner: Any) -> None:
    try:
        owner.close()
    except OSError as exc:
        if exc.errno != errno.EBADF:
            logger.exception(f"closing {owner!r} failed: {exc!r}")
    except Exception as exc:
        logger.exception(f"closing {owner!r} failed: {exc!r}")


def _sort_key(fd: Hashable) -> tuple[int, str]:
    return (fd, "") if isinstance(fd, int) else (-1, repr(fd))


def _current_token() -> trio.lowlevel.TrioToken | None:
    try:
        return trio.lowlevel.current_trio_token()
    except RuntimeError:
        return None


def _call_in_run(
    token: trio.lowlevel.TrioToken | None, function: Callable[[], object], *, wait: bool = False
) -> None:
    """Call *function* in the run of *token*: now if this thread is that run's (or none).

    From a plain thread with *wait*, block until it ran; from another run's
    thread, never block (it runs soon). A run that has ended is skipped.
    """
    current = _current_token()
    if token is None or token is current:
        function()
        return
    with contextlib.suppress(trio.RunFinishedError):
        if wait and current is None:
            trio.from_thread.run_sync(function, trio_token=token)
        else:
            token.run_sync_soon(function)
