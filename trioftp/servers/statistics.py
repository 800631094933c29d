"""What a server has done so far: :class:`ServerStatistics`, counted by an observer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import attrs

from ..session.events import Observer, TransferRecord

__all__ = ["ServerCounters", "ServerStatistics"]


@attrs.frozen
class ServerStatistics:
    """A snapshot of a server (see ``FTPServer.statistics()``)."""

    #: Sessions open now.
    sessions: int
    #: Transfers running now (files and listings).
    transfers_in_flight: int
    #: Transfers finished (completed or not) since the server started.
    transfers: int
    #: Bytes received from clients (uploads) and sent to them (downloads,
    #: listings) by finished transfers.
    bytes_received: int
    bytes_sent: int
    #: Successful and failed logins.
    logins: int
    failed_logins: int
    #: Commands answered.
    commands: int
    #: Worker threads running a blocking call now.
    threads_busy: int
    #: Sessions opened since the server started.
    sessions_total: int = 0
    #: Finished transfers that did not complete (aborted, failed).
    transfers_failed: int = 0
    #: Seconds spent by finished transfers, all together.
    transfer_seconds: float = 0.0
    #: TLS handshakes (control and data connections) that succeeded and failed.
    tls_handshakes: int = 0
    failed_tls_handshakes: int = 0
    #: Commands answered, by the code of their last reply.
    replies: Mapping[int, int] = attrs.field(factory=dict)


class ServerCounters(Observer):
    """Counts every session's events for :class:`ServerStatistics`."""

    def __init__(self) -> None:
        self.transfers_in_flight = 0
        self.transfers = 0
        self.bytes_received = 0
        self.bytes_sent = 0
        self.logins = 0
        self.failed_logins = 0
        self.commands = 0
        self.sessions_total = 0
        self.transfers_failed = 0
        self.transfer_seconds = 0.0
        self.tls_handshakes = 0
        self.failed_tls_handshakes = 0
        #: Commands answered, by reply code.
        self.replies: Counter[int] = Counter()

    def connected(self, remote_ip: str) -> None:
        self.sessions_total += 1

    def logged_in(self, username: str) -> None:
        self.logins += 1

    def login_failed(self, username: str) -> None:
        self.failed_logins += 1

    def command_done(self, command: str, code: int) -> None:
        self.commands += 1
        self.replies[code] += 1

    def tls_handshake(self, channel: str, succeeded: bool) -> None:
        if succeeded:
            self.tls_handshakes += 1
        else:
            self.failed_tls_handshakes += 1

    def transfer_started(self, command: str, receive: bool) -> None:
        self.transfers_in_flight += 1

    def transfer_done(self, record: TransferRecord) -> None:
        self.transfers_in_flight -= 1
        self.transfers += 1
        self.transfer_seconds += record.seconds
        if not record.completed:
            self.transfers_failed += 1
        if record.receive:
            self.bytes_received += record.bytes
        else:
            self.bytes_sent += record.bytes
