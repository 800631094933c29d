"""SIGTERM as Ctrl-C: how a server process turns a stop request into KeyboardInterrupt.

A handler that raises ``KeyboardInterrupt`` itself can raise it anywhere,
also inside Trio's own bookkeeping while ``trio.run`` starts or ends (Trio
then reports an internal error instead of stopping). When SIGINT has
Python's default handler, :func:`sigterm_handler` instead raises SIGINT:
outside Trio that is the same ``KeyboardInterrupt``, and inside ``trio.run``
Trio's SIGINT handler delivers it at a safe point.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import NoReturn

__all__ = ["SignalHandler", "sigterm_handler"]

SignalHandler = Callable[[int, FrameType | None], None]


def _raise_interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def _raise_sigint(signum: int, frame: FrameType | None) -> None:
    signal.raise_signal(signal.SIGINT)


def sigterm_handler() -> SignalHandler:
    """A handler that stops the process as Ctrl-C does (call it where SIGTERM is set)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        return _raise_sigint
    return _raise_interrupt  # SIGINT ignored or taken by the program: raise directly
