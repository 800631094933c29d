"""The ``on_*`` callbacks a handler may override, as in pyftpdlib.

Override them in a subclass as plain methods or ``async def``; both run in
the session's task, on the event loop (a plain one must not block), and the
return value is ignored. A callback nobody overrode is never called.
"""

from __future__ import annotations

__all__ = ["SessionCallbacks"]


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
