"""A session runner whose threads run as one system user, and only as that user.

Switching the whole process to a user around each filesystem call
(``seteuid``, as pyftpdlib's ``UnixAuthorizer`` does) is wrong in a server
where many sessions work at once: two users' calls would run with whichever
identity was set last. :class:`UserThreadRunner` gives a logged-in session
threads of its own instead. Each thread, when it starts, switches *itself*
to the user for good - uid, gid and supplementary groups, real, effective and
saved, through the per-thread system calls of :mod:`trioftp._threadcreds` -
and then only ever runs that session's calls. So:

* a call always runs with its user's credentials, whatever other sessions
  do at the same moment, and the kernel checks every permission with them
  (the thread holds no root privilege any more);
* no other thread, the event loop's included, is ever switched; a thread
  that ran as a user can't switch back, and it exits when the session logs
  out or ends (or after :attr:`UserThreadRunner.idle_seconds` without work;
  the next call starts a fresh one).

A session's calls wake its task through the Trio token
(``run_sync_soon``); the threads never wait for the event loop.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import outcome
import trio

from ._threadcreds import set_thread_credentials

if sys.platform != "win32":
    import pwd

__all__ = ["SystemUser", "UserThreadRunner"]

T = TypeVar("T")


@attrs.frozen
class SystemUser:
    """The identity a :class:`UserThreadRunner`'s threads take."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]

    @classmethod
    def lookup(cls, name: str) -> SystemUser:
        """The user *name* of the password database, with its groups (blocking: NSS).

        Raises :exc:`KeyError` for an unknown user.
        """
        entry = pwd.getpwnam(name)
        groups = os.getgrouplist(name, entry.pw_gid)
        return cls(name, entry.pw_uid, entry.pw_gid, tuple(sorted(set(groups))))


@attrs.define(eq=False)
class _Call:
    function: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    #: Called in the worker thread with the call's outcome.
    deliver: Callable[[outcome.Outcome[Any]], None]


class UserThreadRunner:
    """Run a session's blocking calls in threads switched to one system user.

    *user* is a :class:`SystemUser` or a user name, looked up (password
    database, groups) by the first thread. At most *max_threads* calls run
    at once; more wait in order. Calls that have not started yet can be
    cancelled; a started call always finishes (as with Trio's worker
    threads). The process must be root (or hold ``CAP_SETUID`` and
    ``CAP_SETGID``); a thread that fails to switch runs nothing, and the
    calls given to it raise :exc:`PermissionError`.
    """

    #: Seconds an idle thread waits for work before it exits.
    idle_seconds: float = 60.0

    def __init__(self, user: SystemUser | str, max_threads: int = 2) -> None:
        if max_threads < 1:
            raise ValueError("max_threads must be at least 1")
        self._user = user
        self.max_threads = max_threads
        self._lock = threading.Condition()
        self._pending: collections.deque[_Call] = collections.deque()
        self._threads = 0
        self._idle = 0
        self._closed = False
        self._local = threading.local()

    @property
    def user(self) -> SystemUser | str:
        """The user, as given or (once a thread has looked it up) resolved."""
        return self._user

    @property
    def threads(self) -> int:
        """Threads alive now."""
        with self._lock:
            return self._threads

    # --- the Runner protocol and pyftpdlib's run_as_current_user

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Return ``function(*args)``, called in one of the user's threads."""
        await trio.lowlevel.checkpoint_if_cancelled()
        task = trio.lowlevel.current_task()
        token = trio.lowlevel.current_trio_token()

        def deliver(result: outcome.Outcome[Any]) -> None:
            with contextlib.suppress(trio.RunFinishedError):  # nobody waits any more
                token.run_sync_soon(trio.lowlevel.reschedule, task, result)

        call = _Call(function, args, {}, deliver)
        self._submit(call)

        def abort(_raise_cancel: object) -> trio.lowlevel.Abort:
            return (
                trio.lowlevel.Abort.SUCCEEDED
                if self._withdraw(call)
                else trio.lowlevel.Abort.FAILED
            )

        result: T = await trio.lowlevel.wait_task_rescheduled(abort)
        return result

    def call_as_user(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call *function* as the user and wait for it (``run_as_current_user``).

        From one of the user's own threads it is a plain call; from any other
        thread (the event loop's too) it blocks that thread until the call is
        done in a user's thread.
        """
        if getattr(self._local, "is_worker", False):
            return function(*args, **kwargs)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def deliver(result: outcome.Outcome[Any]) -> None:
            try:
                future.set_result(result.unwrap())
            except BaseException as exc:  # the call's own error, handed over
                future.set_exception(exc)

        self._submit(_Call(function, args, kwargs, deliver))
        return future.result()

    def close(self) -> None:
        """No more work is expected: threads exit once the pending calls are done.

        A call made after closing still runs (in a fresh thread, which exits
        as soon as it has nothing to do).
        """
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    # --- the threads

    def _submit(self, call: _Call) -> None:
        with self._lock:
            self._pending.append(call)
            if self._idle > len(self._pending) - 1:
                self._lock.notify()
            elif self._threads < self.max_threads:
                self._threads += 1
                thread = threading.Thread(
                    target=self._work, name=f"trioftp user {self._user_name()}", daemon=True
                )
                try:
                    thread.start()
                except BaseException:
                    self._threads -= 1
                    raise

    def _withdraw(self, call: _Call) -> bool:
        """Take back *call* if no thread has started it (a cancelled wait)."""
        with self._lock:
            try:
                self._pending.remove(call)
            except ValueError:
                return False
            return True

    def _user_name(self) -> str:
        return self._user if isinstance(self._user, str) else self._user.name

    def _switch(self) -> BaseException | None:
        """Make the calling thread the user for good; the error if it could not."""
        try:
            user = self._user
            if isinstance(user, str):
                user = SystemUser.lookup(user)
                self._user = user
            set_thread_credentials(uid=user.uid, gid=user.gid, groups=user.groups)
        except (OSError, KeyError, NotImplementedError) as exc:
            refusal = PermissionError(f"can't run as user {self._user_name()!r}: {exc}")
            refusal.__cause__ = exc
            return refusal
        return None

    def _work(self) -> None:
        refusal = self._switch()
        self._local.is_worker = refusal is None
        while True:
            with self._lock:
                self._idle += 1
                try:
                    if not self._pending and not self._closed and refusal is None:
                        self._lock.wait(self.idle_seconds)
                finally:
                    self._idle -= 1
                if not self._pending:
                    self._threads -= 1
                    return
                call = self._pending.popleft()
            if refusal is not None:
                result: outcome.Outcome[Any] = outcome.Error(refusal)
            else:
                result = outcome.capture(call.function, *call.args, **call.kwargs)
            call.deliver(result)
            del call, result
