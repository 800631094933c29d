"""The structured record behind every audit log line: :class:`AuditEvent`.

A session's audit lines (connect, login, each filesystem command, each
transfer, TLS failures, disconnect) are logged through the ``trioftp`` logger
with an :class:`AuditEvent` attached to the :class:`logging.LogRecord` as
:data:`RECORD_ATTRIBUTE`; the formatters of :mod:`trioftp.logformats` render
it as a JSON object or an ``xferlog`` line, and the default format shows only
the record's message (pyftpdlib's line).
"""

from __future__ import annotations

import logging

import attrs

__all__ = ["RECORD_ATTRIBUTE", "AuditEvent", "event_of", "host_port"]

#: The :class:`logging.LogRecord` attribute that holds a line's :class:`AuditEvent`.
RECORD_ATTRIBUTE = "trioftp_event"


def host_port(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets (``[::1]:21``)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@attrs.frozen
class AuditEvent:
    """What happened in a session, in fields a program can read.

    Fields that do not apply to an event are None.
    """

    #: connect, login, login_failed, logout, command, transfer, tls_failed, disconnect.
    event: str
    #: The session's number (unique within one server process).
    session: int
    #: The client's address, ``host:port`` (IPv6 in brackets).
    remote: str
    #: The user name given with USER ("" before).
    user: str
    #: The command (``SITE CHMOD`` for SITE commands), for command and transfer events.
    command: str | None = None
    #: The path as the client sees it (absolute), or the command's argument.
    path: str | None = None
    #: The last reply code of the command or transfer.
    code: int | None = None
    #: Why it failed (the reply text of a 4xx/5xx, the error's text), else None.
    reason: str | None = None
    #: Transfers: bytes moved, seconds taken, "in" (upload) or "out".
    bytes: int | None = None
    seconds: float | None = None
    direction: str | None = None
    #: Transfers: True if every byte was moved.
    completed: bool | None = None
    #: Transfers: "ascii" or "binary" (TYPE A or I).
    transfer_type: str | None = None
    #: Transfers: True for an anonymous login.
    anonymous: bool | None = None

    @property
    def rate(self) -> float | None:
        """Transfers: bytes per second (None when no time was measured)."""
        if self.bytes is None or not self.seconds:
            return None
        return self.bytes / self.seconds

    def as_dict(self) -> dict[str, object]:
        """Every field and the rate, with stable keys (None where not applicable)."""
        fields = attrs.asdict(self)
        fields["rate"] = None if self.rate is None else round(self.rate, 1)
        return fields


def event_of(record: logging.LogRecord) -> AuditEvent | None:
    """The :class:`AuditEvent` of a log record, if it is an audit line."""
    event = getattr(record, RECORD_ATTRIBUTE, None)
    return event if isinstance(event, AuditEvent) else None
