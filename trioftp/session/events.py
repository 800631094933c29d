"""What happens in a session, told once and fanned out.

A session reports each event - connected, logged in, login failed, logged
out, command done (with its reply code), transfer started and done (with
bytes, seconds and outcome), disconnected - to its :class:`SessionEvents`,
which writes the log lines, calls the handler's ``on_*`` callbacks and
tells every extra :class:`Observer` (statistics, metrics).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import attrs

from ..log import logger
from ..protocol.replies import sanitize

__all__ = [
    "Observer",
    "SessionEvents",
    "SessionStatistics",
    "TransferRecord",
]


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


class EventSource(Protocol):
    """What the emitter needs of its session: its log prefix and its callbacks."""

    def log(self, msg: str, logfun: Callable[[str], None] = ...) -> None: ...

    def log_transfer(
        self, cmd: str, filename: str, receive: bool, completed: bool, elapsed: float, bytes: int
    ) -> None: ...

    async def call_hook(self, name: str, *args: object) -> None: ...


class SessionEvents:
    """One session's events: log lines, ``on_*`` callbacks, observers, counters."""

    __slots__ = (
        "bytes_received",
        "bytes_sent",
        "commands",
        "observers",
        "session",
        "transfers",
    )

    def __init__(self, session: EventSource, observers: Sequence[Observer]) -> None:
        self.session = session
        self.observers = observers
        self.commands = 0
        self.transfers = 0
        self.bytes_received = 0
        self.bytes_sent = 0

    async def connected(self, remote_ip: str) -> None:
        """The client connected: before the greeting."""
        self.session.log("FTP session opened (connect)")
        for observer in self.observers:
            observer.connected(remote_ip)
        await self.session.call_hook("on_connect")

    async def logged_in(self, username: str) -> None:
        """*username* logged in (``230`` is queued)."""
        self.session.log(f"USER {sanitize(username)!r} logged in.")
        for observer in self.observers:
            observer.logged_in(username)
        await self.session.call_hook("on_login", username)

    async def login_failed(self, username: str, password: str) -> None:
        """A login failed (after the delay, before the ``530``)."""
        self.session.log(f"USER {sanitize(username)!r} failed login.", logfun=logger.warning)
        for observer in self.observers:
            observer.login_failed(username)
        await self.session.call_hook("on_login_failed", username, password)

    async def logged_out(self, username: str) -> None:
        """*username* logged out."""
        for observer in self.observers:
            observer.logged_out(username)
        await self.session.call_hook("on_logout", username)

    def command_done(self, command: str, code: int) -> None:
        """A command was answered with *code* (its last reply)."""
        self.commands += 1
        for observer in self.observers:
            observer.command_done(command, code)

    def transfer_started(self, command: str, receive: bool) -> None:
        """A transfer's preliminary reply is out."""
        for observer in self.observers:
            observer.transfer_started(command, receive)

    async def transfer_done(self, record: TransferRecord) -> None:
        """A transfer ended: log it (file transfers), tell observers, call ``on_file_*``."""
        self.transfers += 1
        if record.receive:
            self.bytes_received += record.bytes
        else:
            self.bytes_sent += record.bytes
        for observer in self.observers:
            observer.transfer_done(record)
        if record.path is None:
            return
        self.session.log_transfer(
            record.command, record.path, record.receive, record.completed, record.seconds,
            record.bytes,
        )  # fmt: skip
        if record.receive:
            hook = "on_file_received" if record.completed else "on_incomplete_file_received"
        else:
            hook = "on_file_sent" if record.completed else "on_incomplete_file_sent"
        await self.session.call_hook(hook, record.path)

    async def disconnected(self, remote_ip: str) -> None:
        """The session ended (connection closed)."""
        self.session.log("FTP session closed (disconnect).")
        for observer in self.observers:
            observer.disconnected(remote_ip)
        await self.session.call_hook("on_disconnect")
