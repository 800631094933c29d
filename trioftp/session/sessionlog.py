"""What a session says: its replies to the client and its log lines: a mixin of the session."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ClassVar

from ..auditevent import host_port
from ..filesystems import AbstractedFS
from ..log import logger
from ..protocol.replies import Reply, one_line_code, sanitize
from .control import ControlChannel
from .logprefix import PrefixValues
from .state import SessionState

__all__ = ["SessionLog"]

_DEBUG = logger.debug


class SessionLog:
    """Replies (``respond``, ``reply``, ``reply_now``) and log lines (``log``,
    ``logline``, ``logerror``, ``log_transfer``), each with the session's prefix."""

    log_prefix: str
    remote_ip: str
    remote_port: int
    session_state: SessionState
    fs: AbstractedFS | None
    control_channel: ControlChannel

    _respond_replaced: ClassVar[bool] = False

    def respond(self, resp: str, logfun: Callable[[str], None] = _DEBUG) -> None:
        """Queue a reply (``"CODE text"``) to the client.

        Replies are written when the current command finishes, or at the next
        explicit flush. Text with line breaks becomes a well-formed multi-line
        reply, so client-chosen names can never forge a reply. Text without a
        reply code is sent as one line, its control characters replaced.
        """
        code = one_line_code(resp)
        if code is not None:  # most replies: sent as they are, no Reply made
            self.control_channel.push_line(code, resp)
            if logfun is not _DEBUG or logger.isEnabledFor(logging.DEBUG):
                self._log_reply(code, resp[4:], logfun)
            return
        try:
            reply = Reply.parse(resp)
        except ValueError:
            self.log(f"Reply without a code: {sanitize(resp)!r}", logfun=logger.warning)
            self.control_channel.push_raw(sanitize(resp) + "\r\n")
            return
        self._queue(reply, logfun)

    def reply(self, reply: Reply, logfun: Callable[[str], None] = _DEBUG) -> None:
        """Queue a typed reply; through :meth:`respond` if a subclass replaced it."""
        if self._respond_replaced:
            self.respond(str(reply), logfun)
        else:
            self._queue(reply, logfun)

    def _queue(self, reply: Reply, logfun: Callable[[str], None]) -> None:
        self.control_channel.push(reply)
        if logfun is not _DEBUG or logger.isEnabledFor(logging.DEBUG):
            self._log_reply(reply.code, reply.text, logfun)

    def _log_reply(self, code: int, text: str, logfun: Callable[[str], None]) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            self.logline(f"-> {code} " + sanitize(text), logfun=logfun)
        elif logfun != logger.debug:  # a bound method: equal
            self.log(sanitize(text), logfun=logfun)

    async def reply_now(self, reply: Reply | str) -> None:
        """Send a reply immediately (before a long operation starts)."""
        if isinstance(reply, Reply):
            self.reply(reply)
        else:
            self.respond(reply)
        await self.control_channel.flush()

    def _prefix(self) -> str:
        try:
            return self.log_prefix % PrefixValues(self, self.session_state.username)
        except (KeyError, TypeError, ValueError):
            return host_port(self.remote_ip, self.remote_port)

    def log(self, msg: str, logfun: Callable[[str], None] = logger.info) -> None:
        """Log a message with the session prefix."""
        if logfun != logger.info or logger.isEnabledFor(logging.INFO):
            logfun(f"{self._prefix()} {msg}")

    def logline(self, msg: str, logfun: Callable[[str], None] = logger.debug) -> None:
        """Log a protocol line (only at DEBUG level)."""
        if logger.isEnabledFor(logging.DEBUG):
            logfun(f"{self._prefix()} {msg}")

    def logerror(self, msg: str) -> None:
        """Log an error with the session prefix."""
        logger.error("%s %s", self._prefix(), msg)

    def log_exception(self, msg: str) -> None:
        """Log an error with the session prefix and the current traceback."""
        logger.exception("%s %s", self._prefix(), msg)

    def _warn(self, msg: str) -> None:
        self.log(msg, logfun=logger.warning)

    def log_transfer(
        self, cmd: str, filename: str, receive: bool, completed: bool, elapsed: float, bytes: int
    ) -> None:
        """Log one finished transfer in pyftpdlib's format.

        Sessions log their transfers through :meth:`audit_transfer` (with the
        rate and the reason of a failure); a subclass that replaces this
        method gets it called instead, with pyftpdlib's arguments.
        """
        shown = self.fs.fs2ftp(filename) if self.fs is not None else filename
        self.log(
            f"{cmd} {sanitize(shown)} completed={int(completed)} bytes={bytes} "
            f"seconds={elapsed:.3f}"
        )
