"""What happens in a session, told once and fanned out.

A session reports each event - connected, logged in, login failed, logged
out, command done (with its reply code), transfer started and done (with
bytes, seconds and outcome), TLS handshake done or failed, disconnected - to
its server's :class:`SessionEvents`, which writes the session's audit log
lines (:mod:`.auditlog`), calls the handler's ``on_*`` callbacks and tells
every :class:`Observer` (the server's statistics, metrics).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

import attrs
import trio

from .._util import error_chain
from ..protocol.replies import sanitize

__all__ = [
    "HOOK_GRACE_PERIOD",
    "NO_OBSERVERS",
    "Observer",
    "SessionEvents",
    "SessionStatistics",
    "TransferRecord",
]

#: Longest wait for a user callback while the session is being torn down.
HOOK_GRACE_PERIOD = 10.0


@attrs.frozen
class TransferRecord:
    """One finished transfer (a file or a listing)."""

    #: The command: RETR, STOR, APPE, STOU, LIST, NLST or MLSD.
    command: str
    #: The file's absolute filesystem path (None for a listing).
    path: str | None
    #: The path as the client sees it (None for a listing).
    shown_path: str | None
    #: True for an upload.
    receive: bool
    #: True if every byte was moved and the reply was ``226``.
    completed: bool
    #: Bytes moved over the data connection.
    bytes: int
    #: Seconds from the preliminary reply to the end.
    seconds: float
    #: The final reply's code (226 when completed).
    code: int = 226
    #: Why the transfer stopped early (an OS error's text, "Connection
    #: closed"...); None when completed.
    reason: str | None = None


@attrs.frozen
class SessionStatistics:
    """A snapshot of one session (see ``FTPHandler.statistics()``)."""

    remote_address: tuple[str, int]
    username: str
    authenticated: bool
    commands: int
    transfers: int
    bytes_received: int
    bytes_sent: int
    transfer_in_progress: bool


class Observer:
    """Receives every session's events; override the methods you need.

    Observers are called on the event loop and must not block. Add one to a
    server with ``FTPServer.add_observer``.
    """

    def connected(self, remote_ip: str) -> None:
        """A client connected."""

    def logged_in(self, username: str) -> None:
        """*username* logged in."""

    def login_failed(self, username: str) -> None:
        """A login as *username* failed."""

    def logged_out(self, username: str) -> None:
        """*username* logged out (QUIT, REIN, a new USER)."""

    def command_done(self, command: str, code: int) -> None:
        """*command* was answered; *code* is its last reply's code."""

    def transfer_started(self, command: str, receive: bool) -> None:
        """A transfer started (its preliminary reply was sent)."""

    def transfer_done(self, record: TransferRecord) -> None:
        """A transfer ended, completed or not."""

    def disconnected(self, remote_ip: str) -> None:
        """A session ended."""

    def failed_login_from(self, remote_ip: str, username: str) -> None:
        """A login as *username* from *remote_ip* failed (bans count these)."""

    def command_from(self, remote_ip: str) -> None:
        """*remote_ip* sent a command line, before it runs (bans count these)."""

    def tls_handshake(self, channel: str, succeeded: bool) -> None:
        """A TLS handshake on the ``"control"`` or a ``"data"`` connection ended."""


class EventSource(Protocol):
    """What the emitter needs of a session: its audit lines and its callbacks."""

    remote_ip: str

    def audit(self, event: str, msg: str, level: int = ..., **fields: Any) -> None: ...

    def audit_wanted(self, level: int = ...) -> bool: ...

    def audit_command(
        self, command: str, arg: str, path: str | None, code: int, text: str
    ) -> None: ...

    def audit_transfer(self, record: TransferRecord, real_path: str) -> None: ...

    def has_hook(self, name: str) -> bool: ...

    async def call_hook(self, hook: str, *args: object) -> None: ...


class SessionEvents:
    """The emitter a server's sessions report their events to.

    Each event is told once: it writes the session's log line, tells every
    observer, and calls the session's ``on_*`` callback if the handler has
    one. One emitter serves every session of a server (it keeps no
    per-session state); sessions without a server share :data:`NO_OBSERVERS`.
    """

    __slots__ = ("observers",)

    def __init__(self, observers: Sequence[Observer] = ()) -> None:
        self.observers = observers

    async def connected(self, session: EventSource) -> None:
        """The client connected: before the greeting."""
        session.audit("connect", "FTP session opened (connect)")
        for observer in self.observers:
            observer.connected(session.remote_ip)
        if session.has_hook("on_connect"):
            await session.call_hook("on_connect")

    async def logged_in(self, session: EventSource, username: str) -> None:
        """*username* logged in (``230`` is queued)."""
        if session.audit_wanted():  # (no line to build when it goes nowhere)
            session.audit("login", f"USER {sanitize(username)!r} logged in.")
        for observer in self.observers:
            observer.logged_in(username)
        if session.has_hook("on_login"):
            await session.call_hook("on_login", username)

    async def login_failed(self, session: EventSource, username: str, password: str) -> None:
        """A login failed (after the delay, before the ``530``)."""
        session.audit("login_failed", f"USER {sanitize(username)!r} failed login.", logging.WARNING)
        for observer in self.observers:
            observer.login_failed(username)
            observer.failed_login_from(session.remote_ip, username)
        if session.has_hook("on_login_failed"):
            await session.call_hook("on_login_failed", username, password)

    async def logged_out(self, session: EventSource, username: str) -> None:
        """*username* logged out."""
        if session.audit_wanted():
            session.audit("logout", f"USER {sanitize(username)!r} logged out.", user=username)
        for observer in self.observers:
            observer.logged_out(username)
        if session.has_hook("on_logout"):
            await session.call_hook("on_logout", username)

    def command_received(self, session: EventSource) -> None:
        """The session read a command line (before running it)."""
        for observer in self.observers:
            observer.command_from(session.remote_ip)

    def command_done(
        self, session: EventSource, command: str, arg: str, path: str | None, code: int,
        text: str, *, transferred: bool = False,
    ) -> None:  # fmt: skip
        """A command was answered with *code* and *text* (its last reply).

        *arg* is the argument as sent, *path* the filesystem path it became
        (None if it is no path). A command whose file transfer ran
        (*transferred*) was logged by the transfer's own line.
        """
        for observer in self.observers:
            observer.command_done(command, code)
        if not transferred:
            session.audit_command(command, arg, path, code, text)

    def transfer_started(self, command: str, receive: bool) -> None:
        """A transfer's preliminary reply is out."""
        for observer in self.observers:
            observer.transfer_started(command, receive)

    async def transfer_done(self, session: EventSource, record: TransferRecord) -> None:
        """A transfer ended: log it (file transfers), tell observers, call ``on_file_*``."""
        for observer in self.observers:
            observer.transfer_done(record)
        if record.path is None:
            return
        session.audit_transfer(record, record.path)
        if record.receive:
            hook = "on_file_received" if record.completed else "on_incomplete_file_received"
        else:
            hook = "on_file_sent" if record.completed else "on_incomplete_file_sent"
        if session.has_hook(hook):
            await session.call_hook(hook, record.path)

    def tls_handshake(
        self, session: EventSource, channel: str, error: BaseException | None = None
    ) -> None:
        """A TLS handshake on *channel* (``"control"``/``"data"``) ended; *error* if it failed.

        A failure is logged with the whole cause chain (the ``ssl`` error
        behind trio's ``BrokenResourceError``).
        """
        for observer in self.observers:
            observer.tls_handshake(channel, error is None)
        if error is not None:
            reason = sanitize(error_chain(error))
            session.audit(
                "tls_failed",
                f"TLS handshake on the {channel} connection failed: {reason}",
                reason=reason,
            )

    async def disconnected(self, session: EventSource) -> None:
        """The session ended (connection closed); ``on_disconnect`` gets a grace period."""
        session.audit("disconnect", "FTP session closed (disconnect).")
        for observer in self.observers:
            observer.disconnected(session.remote_ip)
        if session.has_hook("on_disconnect"):
            with trio.move_on_after(HOOK_GRACE_PERIOD):
                await session.call_hook("on_disconnect")


#: The emitter of sessions that run without a server: log lines and callbacks only.
NO_OBSERVERS = SessionEvents()
