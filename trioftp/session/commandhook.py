"""pyftpdlib's ``process_command`` hook: every command goes through it once checked.

pyftpdlib calls ``process_command(cmd, *args, **kwargs)`` for each command
after its login, permission and path checks; the stock version calls
``ftp_<cmd>``. A subclass overrides it to watch or veto commands (an
anti-flood handler counts them) and calls the original, as a plain
method::

    def process_command(self, cmd, *args, **kwargs):
        self.processed_cmds += 1
        FTPHandler.process_command(self, cmd, *args, **kwargs)

trioftp's command methods may be coroutines, which such an override does
not await: the stock version keeps the coroutine it started, and
:func:`run_through_hook` awaits it once the override returns (an ``async
def`` override that awaits it itself is fine too). Dispatch takes this path
only for a class that overrides the hook, so the others pay nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Coroutine
from typing import Any, ClassVar, Protocol

from .._util import replaces
from ..protocol.commands import method_name

__all__ = ["CommandHook", "run_through_hook"]


class CommandHook:
    """The ``process_command`` hook of a session."""

    #: True for a class whose ``process_command`` is not the stock one.
    process_command_replaced: ClassVar[bool] = False
    # The command method's coroutine the stock hook started and nobody awaited yet.
    _started_command: Awaitable[object] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.process_command_replaced = replaces(cls, CommandHook, "process_command")

    def process_command(self, cmd: str, *args: Any, **kwargs: Any) -> Awaitable[object] | None:
        """Run command *cmd* (``"MKD"``, ``"SITE CHMOD"``) by calling its ``ftp_<cmd>`` method.

        Called for every command once its checks passed; a path argument is
        already a filesystem path. Returns what the method returned when it
        is awaitable (a coroutine), which the session awaits in any case.
        """
        result = getattr(self, method_name(cmd))(*args, **kwargs)
        if inspect.isawaitable(result):
            self._started_command = result
            return result
        return None


class _Hooked(Protocol):
    _started_command: Awaitable[object] | None

    def process_command(self, cmd: str, *args: Any, **kwargs: Any) -> object: ...


async def run_through_hook(session: _Hooked, cmd: str, *args: Any, **kwargs: Any) -> None:
    """Run *cmd* through the session's (overridden) ``process_command``; await what it started."""
    session._started_command = None
    started: Awaitable[object] | None = None
    try:
        result = session.process_command(cmd, *args, **kwargs)
        started = _take_started(session)
        if inspect.isawaitable(result):
            await result
        if started is not None and started is not result and not _has_run(started):
            await started
    finally:
        _discard_unrun(started)


def _take_started(session: _Hooked) -> Awaitable[object] | None:
    started, session._started_command = session._started_command, None
    return started


def _discard_unrun(started: Awaitable[object] | None) -> None:
    """Close a coroutine that the override never let run (no "never awaited" warning)."""
    if isinstance(started, Coroutine) and not _has_run(started):
        started.close()


def _has_run(awaitable: Awaitable[object]) -> bool:
    if isinstance(awaitable, Coroutine):
        return inspect.getcoroutinestate(awaitable) != inspect.CORO_CREATED
    return False
