"""Where a session's blocking work runs: worker threads, inline, or as a system user.

Filesystem and authorizer calls that may block and the disk I/O of
transfers all go through the session's :class:`Runner`, never straight onto
the event loop (what runs inline because it only computes - path
translation, an unmodified ``DummyAuthorizer``'s login lookups - is listed
in :mod:`trioftp.filesystems` and :mod:`trioftp.authorizers`):

* :class:`ThreadRunner` - Trio's worker threads, at most ``max_threads`` at
  once; one per server run, shared by its sessions;
* :class:`InlineRunner` - on the event loop itself, for tests on
  :class:`trio.testing.MockClock` and for a process that serves one session;
* :class:`ImpersonatingRunner` - for a pyftpdlib-style authorizer whose
  ``impersonate_user`` switches the whole process to another user: one call
  at a time in the process, so two users' operations never run with each
  other's rights and the process never stays switched after a call.

The session chooses its runner at login (:func:`runner_for_login`); an
authorizer that needs an execution context of its own offers
``session_runner(username, password, base)`` - as
:class:`~trioftp.authorizers.UnixAuthorizer` does with a
:class:`~trioftp.userthreads.UserThreadRunner`, threads that are the user
(so its calls need no process-wide switch and no lock). A runner with a
``close()`` method is closed when the login ends (logout, REIN, a new
login, the end of the session).
"""

from __future__ import annotations

import dis
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import trio

from .._util import replaces
from ..authorizers import DummyAuthorizer

__all__ = [
    "ImpersonatingRunner",
    "InlineRunner",
    "Runner",
    "ThreadRunner",
    "runner_for_login",
]

T = TypeVar("T")

#: Held while a call runs impersonating a user: credentials are process-wide.
_IMPERSONATION = threading.Lock()
#: Whether this thread is inside an impersonated call already (a nested
#: ``run_as_current_user`` runs its function as it is).
_INSIDE = threading.local()


class Runner(Protocol):
    """Runs blocking calls for a session."""

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Return ``function(*args)``, called where this runner runs blocking work."""
        ...


class ThreadRunner:
    """Run calls in Trio's worker threads, at most *max_threads* at once.

    Without *max_threads*, Trio's default thread limiter of the current run
    (shared by everything in the run) is used.
    """

    __slots__ = ("_limiter",)

    def __init__(self, max_threads: int | None = None) -> None:
        self._limiter = trio.CapacityLimiter(max_threads) if max_threads else None

    @property
    def limiter(self) -> trio.CapacityLimiter:
        """The limiter the worker threads are borrowed from."""
        return self._limiter or trio.to_thread.current_default_thread_limiter()

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` in a worker thread."""
        return await trio.to_thread.run_sync(function, *args, limiter=self.limiter)

    @property
    def busy(self) -> int:
        """Worker threads running a call now."""
        return int(self.limiter.borrowed_tokens)


class InlineRunner:
    """Run calls on the event loop (tests on MockClock, one-session processes)."""

    __slots__ = ()

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` now, after a checkpoint (so it can be cancelled first)."""
        await trio.lowlevel.checkpoint()
        return function(*args)


class ImpersonatingRunner:
    """Run calls through *base*, each impersonating the logged-in user.

    ``impersonate_user`` of a pyftpdlib-style authorizer changes the whole
    process's effective user, so calls run one at a time in the process.
    """

    __slots__ = ("authorizer", "base", "password", "username")

    def __init__(self, base: Runner, authorizer: Any, username: str, password: str) -> None:
        self.base = base
        self.authorizer = authorizer
        self.username = username
        self.password = password

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` as the user."""
        return await self.base.run(self.call_as_user, function, *args)

    def call_as_user(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call *function* as the user, blocking (``run_as_current_user``)."""
        if getattr(_INSIDE, "active", False):  # already switched, by this very thread
            return function(*args, **kwargs)
        with _IMPERSONATION:
            _INSIDE.active = True
            try:
                self.authorizer.impersonate_user(self.username, self.password)
                try:
                    return function(*args, **kwargs)
                finally:
                    self.authorizer.terminate_impersonation(self.username)
            finally:
                _INSIDE.active = False


def impersonates(authorizer: object) -> bool:
    """True if *authorizer*'s impersonation may switch users (it is not a no-op).

    A stock :class:`DummyAuthorizer`, and any authorizer whose
    ``impersonate_user`` and ``terminate_impersonation`` have empty bodies
    (``pass``, a docstring, ``return None``), switch nothing.
    """
    if isinstance(authorizer, DummyAuthorizer) and not replaces(
        type(authorizer), DummyAuthorizer, "impersonate_user", "terminate_impersonation"
    ):
        return False
    methods = (getattr(authorizer, name, None) for name in _IMPERSONATION_METHODS)
    return not all(method is None or _does_nothing(method) for method in methods)


_IMPERSONATION_METHODS = ("impersonate_user", "terminate_impersonation")
#: The byte-code operations of a function whose body only returns None.
_EMPTY_BODY = {"RESUME", "NOP", "LOAD_CONST", "RETURN_VALUE", "RETURN_CONST"}


def _does_nothing(method: object) -> bool:
    function = getattr(method, "__func__", method)
    code = getattr(function, "__code__", None)
    if code is None:
        return False
    instructions = list(dis.get_instructions(code))
    return all(
        op.opname in _EMPTY_BODY
        and (op.opname not in ("LOAD_CONST", "RETURN_CONST") or op.argval is None)
        for op in instructions
    )


def runner_for_login(authorizer: object, username: str, password: str, base: Runner) -> Runner:
    """The runner for a session once *username* has logged in."""
    supply = getattr(authorizer, "session_runner", None)
    if callable(supply):
        supplied = supply(username, password, base)
        if supplied is not None:
            return supplied  # type: ignore[no-any-return]
    if impersonates(authorizer):
        return ImpersonatingRunner(base, authorizer, username, password)
    return base
