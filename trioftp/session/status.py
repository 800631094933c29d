"""What STAT without argument says about a session, and its statistics record."""

from __future__ import annotations

from typing import Protocol

from ..protocol.replies import sanitize
from .control import ControlChannel
from .dataconn import DataChannel
from .events import SessionStatistics
from .state import SessionState
from .tls import TLSProtection
from .transfers import Transfers

__all__ = ["session_statistics", "status_lines"]


class StatusSource(Protocol):
    """The parts of a session its status is made of."""

    remote_ip: str
    remote_port: int
    session_state: SessionState
    control_channel: ControlChannel
    tls_protection: TLSProtection | None

    @property
    def data_connections(self) -> DataChannel: ...
    @property
    def transfers(self) -> Transfers: ...


def status_lines(session: StatusSource) -> list[str]:
    """The body of the ``211`` reply to STAT without argument."""
    state = session.session_state
    if state.authenticated:
        user = f"Logged in as: {sanitize(state.username)}"
    else:
        user = "Waiting for password." if state.username else "Waiting for username."
    kind = "ASCII" if state.transfer_type == "a" else "Binary"
    lines = [
        f" Connected to: {session.remote_ip}:{session.remote_port}",
        f" {user}",
        f" TYPE: {kind}; STRUcture: File; MODE: Stream",
        f" {_data_status(session)}",
    ]
    if session.tls_protection is not None:
        lines.append(f" {session.tls_protection.status()}")
    return lines


def _data_status(session: StatusSource) -> str:
    mover = session.transfers.mover
    if mover is not None:
        return (
            "Data connection open; transfer in progress: "
            f"{mover.get_transmitted_bytes()} bytes transmitted."
        )
    endpoint = session.data_connections.status()
    if endpoint is not None:
        return endpoint
    if session.transfers.running:
        return "Transfer starting: waiting for the data connection."
    return "Data connection closed."


def session_statistics(session: StatusSource) -> SessionStatistics:
    """A snapshot of *session*'s counters."""
    transfers = session.transfers
    return SessionStatistics(
        (session.remote_ip, session.remote_port),
        session.session_state.username,
        session.session_state.authenticated,
        session.control_channel.lines_read,
        transfers.done,
        transfers.bytes_received,
        transfers.bytes_sent,
        transfers.mover is not None,
    )
