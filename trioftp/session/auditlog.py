"""The session's audit lines: pyftpdlib's ``log_cmd``/``log_transfer``, with events.

Every audit line is logged through the ``trioftp`` logger with the
session's prefix (``log_prefix``) and carries an
:class:`~trioftp.auditevent.AuditEvent` for the JSON and ``xferlog``
formats of :mod:`trioftp.logformats`. A handler that replaces ``log``,
``log_cmd`` or ``log_transfer`` (as pyftpdlib programs do) gets its own
version called instead, with pyftpdlib's arguments.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ..auditevent import RECORD_ATTRIBUTE, AuditEvent, host_port
from ..filesystems import AbstractedFS
from ..log import logger
from ..protocol.replies import sanitize
from .events import TransferRecord
from .state import SessionState

__all__ = ["AUDITED_COMMANDS", "AuditLog", "new_session_number", "transfer_line"]

#: The commands logged at INFO by default (``log_cmds_list``): pyftpdlib's
#: list and every other command that changes or reveals the filesystem
#: (STAT only with a path). A transfer command whose transfer ran is logged
#: by its transfer line instead.
AUDITED_COMMANDS = (
    # pyftpdlib's own list.
    "DELE", "RNFR", "RNTO", "MKD", "RMD", "CWD", "XMKD", "XRMD", "XCWD", "REIN",
    "SITE CHMOD", "MFMT",
    # trioftp's additions.
    "CDUP", "XCUP", "RETR", "STOR", "APPE", "STOU", "LIST", "NLST", "MLSD", "MLST",
    "STAT", "SIZE", "MDTM",
)  # fmt: skip

_numbers = itertools.count(1)


def new_session_number() -> int:
    """A number for a new session, unique within this process."""
    return next(_numbers)


def transfer_line(record: TransferRecord) -> str:
    """The line-format text of a finished transfer (pyftpdlib's, with rate and reason).

    ``RETR /a.txt completed=1 bytes=5 seconds=0.500 rate=10B/s``; the rate
    is left out when no time was measured; a transfer that stopped early
    adds its reply code and reason: ``code=550 reason='Permission denied'``.
    """
    line = (
        f"{record.command} {sanitize(record.shown_path or '')} "
        f"completed={int(record.completed)} bytes={record.bytes} seconds={record.seconds:.3f}"
    )
    if record.seconds > 0:
        line += f" rate={record.bytes / record.seconds:.0f}B/s"
    if not record.completed:
        line += f" code={record.code} reason={record.reason or ''!r}"
    return line


class AuditLog:
    """Mixin of :class:`~trioftp.session.core.Session`: writes the audit lines."""

    #: True where a subclass replaced ``log``/``log_cmd``/``log_transfer`` (the
    #: session class sets them for each subclass).
    _log_replaced: ClassVar[bool] = False
    _log_cmd_replaced: ClassVar[bool] = False
    _log_transfer_replaced: ClassVar[bool] = False

    # What the mixin uses of its session.
    remote_ip: str
    remote_port: int
    session_id: int
    session_state: SessionState
    log_cmds_list: Sequence[str]
    fs: AbstractedFS | None

    if TYPE_CHECKING:

        def _prefix(self) -> str: ...
        def log(self, msg: str, logfun: Callable[[str], None] = ...) -> None: ...
        def log_transfer(
            self, cmd: str, filename: str, receive: bool, completed: bool, elapsed: float,
            bytes: int,
        ) -> None: ...  # fmt: skip

    def audit_event(self, event: str, **fields: Any) -> AuditEvent:
        """An :class:`AuditEvent` of *event* for this session, with *fields*.

        The user is the session's, unless *fields* names another (a logout
        is told once the session has forgotten its user).
        """
        user = fields.pop("user", self.session_state.username)
        return AuditEvent(
            event, self.session_id, host_port(self.remote_ip, self.remote_port), user, **fields
        )

    def audit_wanted(self, level: int = logging.INFO) -> bool:
        """True if a line at *level* goes anywhere (else no event is even made)."""
        return self._log_replaced or logger.isEnabledFor(level)

    def write_audit(self, event: AuditEvent, msg: str, level: int = logging.INFO) -> None:
        """Log *msg* with the session prefix at *level*, carrying *event*."""
        if self._log_replaced:
            self.log(msg, logfun=_LEVEL_FUNCTIONS.get(level, logger.info))
        elif logger.isEnabledFor(level):
            logger.log(level, f"{self._prefix()} {msg}", extra={RECORD_ATTRIBUTE: event})

    def audit(self, event: str, msg: str, level: int = logging.INFO, **fields: Any) -> None:
        """Log an audit line of *event* (connect, login, ...) with *fields*."""
        if self.audit_wanted(level):
            self.write_audit(self.audit_event(event, **fields), msg, level)

    def audit_command(self, command: str, arg: str, path: str | None, code: int, text: str) -> None:
        """A command was answered: ``log_cmd``, or the handler's own version.

        ``log_cmd`` gets the path as the client sees it for a command on a
        path (computed only for a command that is logged), else the argument
        as sent, PASS's masked.
        """
        replaced = self._log_cmd_replaced
        if not replaced and (command not in self.log_cmds_list or not self.audit_wanted()):
            return
        fs = self.fs
        if path is not None and fs is not None:
            arg = fs.fs2ftp(path)
        elif command == "PASS" and arg:
            arg = "******"
        if replaced:
            self.log_cmd(command, arg, code, text)
        else:
            self._write_cmd(command, arg, code, text)

    def log_cmd(self, cmd: str, arg: str, respcode: int, respstr: str) -> None:
        """Log a command and its reply if *cmd* is in ``log_cmds_list`` (pyftpdlib).

        *arg* is the path as the client sees it (absolute) for commands on a
        path, else the argument as sent (PASS masked). A ``4xx``/``5xx``
        reply adds its text: ``RMD /gone 550 'No such file or directory.'``.
        Override to log in another format or to log other commands.
        """
        self._write_cmd(cmd, arg, respcode, respstr)

    def _write_cmd(self, cmd: str, arg: str, respcode: int, respstr: str) -> None:
        if cmd not in self.log_cmds_list or not self.audit_wanted():
            return
        if cmd == "STAT" and not arg:  # the server's status, not a path
            return
        shown = sanitize(arg)
        line = f"{cmd} {shown}".rstrip() + f" {respcode}"
        failed = respcode >= 400
        if failed:
            line += f" {sanitize(respstr)!r}"
        event = self.audit_event(
            "command",
            command=cmd,
            path=shown or None,
            code=respcode,
            reason=sanitize(respstr) if failed else None,
        )
        self.write_audit(event, line)

    def audit_transfer(self, record: TransferRecord, real_path: str) -> None:
        """A file transfer ended: its line, or the handler's own ``log_transfer``."""
        if self._log_transfer_replaced:
            self.log_transfer(
                record.command, real_path, record.receive, record.completed, record.seconds,
                record.bytes,
            )  # fmt: skip
            return
        if not self.audit_wanted():
            return
        state = self.session_state
        event = self.audit_event(
            "transfer",
            command=record.command,
            path=sanitize(record.shown_path or ""),
            code=record.code,
            reason=None if record.completed else record.reason,
            bytes=record.bytes,
            seconds=round(record.seconds, 6),
            direction="in" if record.receive else "out",
            completed=record.completed,
            transfer_type="ascii" if state.transfer_type == "a" else "binary",
            anonymous=state.username == "anonymous",
        )
        self.write_audit(event, transfer_line(record))


_LEVEL_FUNCTIONS: dict[int, Callable[[str], None]] = {
    logging.DEBUG: logger.debug,
    logging.INFO: logger.info,
    logging.WARNING: logger.warning,
    logging.ERROR: logger.error,
}
