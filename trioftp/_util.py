"""Small helpers shared by every layer (standard library only)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["call_maybe_async", "replaces"]


def replaces(kind: type, base: type, *names: str) -> bool:
    """True if class *kind* has its own version of any method *names* of *base*.

    Stock implementations that are known not to block or not to matter can be
    skipped or run inline; anything a subclass replaced is treated as unknown.
    """
    return any(getattr(kind, name) is not getattr(base, name) for name in names)


async def call_maybe_async(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call *function*, awaiting the result if it is awaitable (plain or ``async def``)."""
    result = function(*args, **kwargs)
    if inspect.isawaitable(result):
        return await result
    return result
