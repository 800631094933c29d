"""The ``on_*`` callbacks a handler may override, as in pyftpdlib, and how they are called.

Override them in a subclass as plain methods or ``async def``; both run in
the session's task, on the event loop (a plain one must not block), and the
return value is ignored. A callback nobody overrode is never called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .._util import call_maybe_async

__all__ = ["SessionCallbacks"]


class _Logs(Protocol):
    def log_exception(self, msg: str) -> None: ...


class SessionCallbacks:
    """The callbacks, each doing nothing by default."""

    def on_connect(self) -> object:
        """Called when a client connects, before the greeting."""

    def on_disconnect(self) -> object:
        """Called when the connection is closed."""

    def on_login(self, username: str) -> object:
        """Called when *username* has logged in."""

    def on_login_failed(self, username: str, password: str) -> object:
        """Called after a failed login attempt."""

    def on_logout(self, username: str) -> object:
        """Called when the user logs out with QUIT, REIN or a new USER."""

    def on_file_sent(self, file: str) -> object:
        """Called when *file* (an absolute filesystem path) was sent completely."""

    def on_file_received(self, file: str) -> object:
        """Called when *file* (an absolute filesystem path) was received completely."""

    def on_incomplete_file_sent(self, file: str) -> object:
        """Called when sending *file* stopped early (ABOR, a dropped connection)."""

    def on_incomplete_file_received(self, file: str) -> object:
        """Called when receiving *file* stopped early; the partial file is kept."""

    # --- calling them

    def has_hook(self, name: str) -> bool:
        """True if this handler has its own callback *name* (``"on_login"``...).

        Looked up each time: pyftpdlib programs may set callbacks on the class
        (or on an instance) after it was made.
        """
        # Not self.__dict__: reading it makes every session keep a real dict.
        callback = getattr(self, name)
        return getattr(callback, "__func__", None) is not getattr(SessionCallbacks, name)

    async def call_hook(self: _Logs, hook: str | Callable[..., object], *args: object) -> None:
        """Call a callback, by name (``"on_login"``) or itself; log, never raise, its errors.

        Plain and ``async def`` callbacks alike; a stock one (it does
        nothing) is skipped.
        """
        if isinstance(hook, str):
            name, callback = hook, getattr(self, hook)
        else:
            name, callback = getattr(hook, "__name__", repr(hook)), hook
        stock = getattr(SessionCallbacks, name, None)
        if stock is not None and getattr(callback, "__func__", None) is stock:
            return
        try:
            await call_maybe_async(callback, *args)
        except Exception:
            self.log_exception(f"error in {name}")
