"""Small helpers shared by every layer (standard library only)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["call_maybe_async", "error_chain", "replaces"]


def replaces(kind: type, base: type, *names: str) -> bool:
    """True if class *kind* has its own version of any method *names* of *base*.

    Stock implementations that are known not to block or not to matter can be
    skipped or run inline; anything a subclass replaced is treated as unknown.
    """
    # A loop, not any() over a generator (which costs more): asked at each login.
    for name in names:  # noqa: SIM110
        if getattr(kind, name) is not getattr(base, name):
            return True
    return False


async def call_maybe_async(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call *function*, awaiting the result if it is awaitable (plain or ``async def``)."""
    result = function(*args, **kwargs)
    if result is not None and inspect.isawaitable(result):  # (None: no ABC check)
        return await result
    return result


def error_chain(exc: BaseException) -> str:
    """Describe *exc* and what caused it: ``"outer: Inner: inner text"``.

    Wrappers such as ``trio.BrokenResourceError`` often carry no text of
    their own; the reason is in their ``__cause__`` (an ``ssl.SSLError``...).
    Links with no text are left out (the class name stands in if none has
    any); each cause is shown with its class name.
    """
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current)
        if text:
            parts.append(text if current is exc else f"{type(current).__name__}: {text}")
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return ": ".join(parts) or type(exc).__name__
