"""Signals while a server runs: which ones stop it, and the program's own handlers.

* :func:`exit_signals` - SIGINT and SIGTERM, which stop the server cleanly
  under ``serve_forever(handle_exit=True)``;
* :func:`stop_on_signals` - calls a function at each of them (in the loop);
* :func:`programs_handlers` and :func:`relay_signals` - a program's own
  Python handlers of SIGTERM/SIGHUP, called at a safe point in the loop
  rather than in the middle of whatever a session was doing;
* :func:`interrupt_in` - what a task group ended with (its
  ``KeyboardInterrupt``/``SystemExit``, or its one error);
* :func:`sigterm_handler` - SIGTERM as Ctrl-C outside the loop (the
  ``trioftp`` command while it starts, pre-fork parents): a handler that
  raised ``KeyboardInterrupt`` itself could raise it inside Trio's own
  bookkeeping, so when SIGINT has Python's default handler it raises SIGINT
  instead, which Trio delivers at a safe point.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, NoReturn

import trio

__all__ = [
    "exit_signals",
    "interrupt_in",
    "programs_handlers",
    "relay_signals",
    "sigterm_handler",
    "stop_on_signals",
]

SignalHandler = Callable[[int, FrameType | None], Any]


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def exit_signals(handle_exit: bool) -> set[signal.Signals]:
    """The signals that stop the server cleanly: SIGINT and SIGTERM with *handle_exit*.

    Only in the main thread (where Python delivers signals), and only those
    the program left to their default (an ignored SIGINT stays ignored; a
    program's own handler is called instead, see :func:`relay_signals`).
    Ask before ``trio.run``, which installs its own SIGINT handler.
    """
    if not handle_exit or not _in_main_thread():
        return set()
    defaults = (signal.SIG_DFL, signal.default_int_handler)
    return {
        signum for signum in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(signum) in defaults
    }


async def stop_on_signals(signals: set[signal.Signals], stop: Callable[[], None]) -> None:
    """Call *stop* in the loop at each of *signals*, until cancelled."""
    with trio.open_signal_receiver(*signals) as received:
        async for _ in received:
            stop()


def programs_handlers() -> dict[signal.Signals, SignalHandler]:
    """The program's own Python handlers of SIGTERM and SIGHUP (main thread only)."""
    if not _in_main_thread():
        return {}
    return {
        signum: handler
        for signum in (signal.SIGTERM, signal.SIGHUP)
        if callable(handler := signal.getsignal(signum))
    }


async def relay_signals(
    handlers: dict[signal.Signals, SignalHandler], raised: Callable[[BaseException], None]
) -> None:
    """Call the program's *handlers* in the loop; give *raised* what one of them raises."""
    with trio.open_signal_receiver(*handlers) as signals:
        async for signum in signals:
            try:
                handlers[signal.Signals(signum)](signum, None)
            except BaseException as exc:  # KeyboardInterrupt, SystemExit, ...
                raised(exc)
                return


def interrupt_in(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """What a task group ended with, for the caller of ``serve_forever()``.

    Its ``KeyboardInterrupt``/``SystemExit`` if that is all it carries (so
    ``handle_exit`` sees it), its one exception if it carries only one (a
    server that could not start), else the group itself.
    """
    interrupts, rest = group.split((KeyboardInterrupt, SystemExit))
    if interrupts is not None and rest is None:
        return _first(interrupts)
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        current = pending.pop()
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        else:
            leaves.append(current)
    return leaves[0] if len(leaves) == 1 else group


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first: BaseException = group
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first


def _raise_interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def _raise_sigint(signum: int, frame: FrameType | None) -> None:
    signal.raise_signal(signal.SIGINT)


def sigterm_handler() -> SignalHandler:
    """A handler that stops the process as Ctrl-C does (call it where SIGTERM is set)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        return _raise_sigint
    return _raise_interrupt  # SIGINT ignored or taken by the program: raise directly
