"""Long blocking work that ABOR can stop: the control connection is read meanwhile.

A command whose work may take long (hashing a large file) runs it with
:func:`run_abortable`: the work runs in the session's runner while the
control connection is read. ``ABOR`` (and any command the table marks as
aborting) sets the work's cancel flag; the other commands are held and run
in order afterwards, as during a transfer. When the session ends instead (the
client went away, ``close()``, server shutdown) the flag is set too, so the
worker thread stops at its next check instead of running on unobserved; the
work itself checks the flag (see :func:`~.digests.hash_file`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar

import trio

from ..protocol.commands import COMMANDS, DuringTransfer, split_command
from ..protocol.framing import LineTooLong
from .control import ControlChannel, ControlClosed, Line

__all__ = ["Aborted", "run_abortable"]

T = TypeVar("T")

# Commands read while the work runs wait here; past this many, reading pauses.
_MAX_HELD_COMMANDS = 32


class Aborted(Exception):
    """The client sent ABOR while the work ran (the work was stopped)."""


class AbortableContext(Protocol):
    """What running abortable work needs of a session."""

    encoding: str
    unicode_errors: str

    @property
    def control_channel(self) -> ControlChannel: ...
    @property
    def proto_cmds(self) -> Mapping[str, Mapping[str, object]]: ...

    async def run_blocking(self, function: Callable[..., T], *args: object) -> T: ...
    def close(self) -> None: ...


async def run_abortable(
    session: AbortableContext, work: Callable[[], T], cancel: threading.Event
) -> tuple[T, bool]:
    """Run *work* in the session's runner; set *cancel* on ABOR or when the session ends.

    Returns *work*'s result and whether an ABOR came too late to stop it
    (the command completed: RFC 959 answers that ABOR with ``226`` alone).
    Raises :class:`Aborted` if an ABOR stopped it (*work* raised after the
    flag was set), :class:`trio.Cancelled` if the session ended, and
    whatever *work* raised otherwise.
    """
    aborted = False

    async def watch_control() -> None:
        nonlocal aborted
        control = session.control_channel
        try:
            while control.held < _MAX_HELD_COMMANDS:
                line = await control.read_line()
                if line is None:  # the client went away: so does the session
                    cancel.set()
                    session.close()
                    return
                if not aborted and _aborts(session, line):
                    aborted = True
                    cancel.set()
                else:
                    control.hold(line)
        except ControlClosed:
            cancel.set()
            session.close()

    async def cancel_when_cancelled() -> None:
        try:
            await trio.sleep_forever()
        finally:
            cancel.set()  # the session is ending: the worker thread must stop too

    failure: Exception | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch_control)
        nursery.start_soon(cancel_when_cancelled)
        try:
            result = await session.run_blocking(work)
        except Exception as exc:  # raised outside the nursery, not in an exception group
            failure = exc
        finally:
            nursery.cancel_scope.cancel()
    if failure is not None:
        if aborted:
            raise Aborted from failure
        raise failure
    return result, aborted


def _aborts(session: AbortableContext, line: Line) -> bool:
    """True for a line that aborts what runs (ABOR, without an argument)."""
    if isinstance(line, LineTooLong):
        return False
    try:
        name, arg = split_command(line.decode(session.encoding, session.unicode_errors))
    except UnicodeDecodeError:
        return False
    spec = COMMANDS.get(name)
    return spec is not None and not arg and spec.during_transfer is DuringTransfer.ABORTS
