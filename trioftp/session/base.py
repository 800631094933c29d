"""The session core: lifecycle, command loop, dispatch, replies, logging.

One :class:`SessionBase` runs per control connection, as one Trio task. It
owns a nursery (so a cancel scope): the command loop is its body, and the data
channel's tasks (a passive accept, a transfer) run in it too, so ending the
session - QUIT, a timeout, a dropped connection, server shutdown - cancels all
of them and their ``finally`` blocks close every file and socket.

The command methods themselves (``ftp_USER``, ``ftp_RETR``, ...) live in the
mixins of :mod:`trioftp.session`; :class:`trioftp.handlers.FTPHandler`
assembles them.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import inspect
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from ..filesystems import AbstractedFS, FilesystemError
from ..log import logger
from ..protocol.commands import (
    NOT_IMPLEMENTED,
    argument_error,
    split_command,
)
from ..protocol.framing import LineTooLong
from ..protocol.listing import DEFAULT_FACTS
from ..protocol.replies import sanitize
from .control import ControlClosed, ControlConnection
from .settings import SessionSettings

if TYPE_CHECKING:
    from ..dtp import DTPHandler
    from ..servers import FTPServer

__all__ = ["HOOK_GRACE_PERIOD", "SessionBase", "checks_path", "logger", "os_error_reply"]


T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

#: Commands a restart marker (REST) survives; any other command uses it up,
#: so a refused transfer can't leave an offset behind for a later one.
_KEEP_RESTART_MARKER = frozenset({"REST", "PASV", "EPSV", "PORT", "EPRT", "TYPE"})

#: Longest wait for a user callback while the session is being torn down.
HOOK_GRACE_PERIOD = 10.0

_THREAD_LIMITER: trio.lowlevel.RunVar[trio.CapacityLimiter] = trio.lowlevel.RunVar(
    "trioftp.thread_limiter"
)

# The errno values that mean "the disk is full" (452) or "over quota" (552).
_NO_SPACE = {errno.ENOSPC}
_OVER_QUOTA = {errno.EDQUOT, errno.EFBIG}


def checks_path(method: F) -> F:
    """Mark a built-in command method that checks its own path.

    Such a method validates the jail and the permission in the same thread hop
    as its filesystem work. The dispatcher checks the path first for every
    other method that takes one - a subclass's override included - exactly as
    pyftpdlib does before it calls ``ftp_<CMD>``.
    """
    method._trioftp_checks_path = True  # type: ignore[attr-defined]
    return method


def os_error_text(exc: OSError | FilesystemError) -> str:
    """Describe a filesystem error for a reply, never showing a server path."""
    if isinstance(exc, FilesystemError):
        return sanitize(str(exc)).rstrip(".")
    if exc.errno is not None:
        return os.strerror(exc.errno)
    return exc.strerror or "Operation failed"


def os_error_reply(exc: OSError | FilesystemError) -> str:
    """The whole reply for a failed filesystem operation."""
    return f"{os_error_code(exc)} {os_error_text(exc)}."


def os_error_code(exc: OSError | FilesystemError, default: int = 550) -> int:
    """Choose the reply code for a filesystem error."""
    if isinstance(exc, OSError):
        if exc.errno in _NO_SPACE:
            return 452
        if exc.errno in _OVER_QUOTA:
            return 552
        if exc.errno == errno.EIO:
            return 451
    return default


class SessionBase(SessionSettings):
    """State and machinery shared by every command of an FTP session."""

    def __init__(
        self,
        conn: trio.abc.Stream,
        server: FTPServer | None = None,
        ioloop: object = None,
        *,
        local_address: tuple[str, int] | None = None,
        remote_address: tuple[str, int] | None = None,
    ) -> None:
        """Prepare a session on the connected control stream *conn*.

        The addresses are read from the socket under *conn*; pass them
        explicitly when *conn* is not a socket (tests on memory streams).
        """
        self.server = server
        self.ioloop = ioloop
        if local_address is None or remote_address is None:
            local, remote = _socket_addresses(conn)
            local_address = local_address or local
            remote_address = remote_address or remote
        self.local_ip, self.local_port = local_address
        self.remote_ip, self.remote_port = remote_address
        self.started = time.time()
        self._control = ControlConnection(
            conn,
            encoding=self.encoding,
            errors=self.unicode_errors,
            max_line=self.max_line_length,
            send_timeout=self.timeout,
        )

    # Per-session state. Defaults live on the class, so an idle session only
    # stores what it changed (sessions are many; see the idle-memory benchmark).
    fs: AbstractedFS | None = None
    authenticated = False
    username = ""
    password = ""
    attempted_logins = 0
    data_channel: DTPHandler | None = None
    _nursery: trio.Nursery | None = None
    _closing = False
    _awaiting_command = False
    _current_type = "a"
    _restart_position = 0
    _rnfr: str | None = None
    _epsvall = False
    _current_facts: Sequence[str] = DEFAULT_FACTS
    _held: collections.deque[bytes | LineTooLong] | None = None

    @property
    def held_commands(self) -> collections.deque[bytes | LineTooLong]:
        """Commands read while a transfer ran, to run once it has finished."""
        if self._held is None:
            self._held = collections.deque()
        return self._held

    # --- the session's life

    async def handle_session(self) -> None:
        """Run the whole session: greeting, commands, cleanup.

        Never raises for anything a client can do; a bug is logged with its
        traceback and ends only this session.
        """
        self.log("FTP session opened (connect)")
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                try:
                    await self._serve_commands(nursery.cancel_scope)
                except ControlClosed:
                    pass
                finally:
                    nursery.cancel_scope.cancel()
            idle = self._awaiting_command and not self._closing
            if idle and nursery.cancel_scope.cancelled_caught:  # the idle deadline fired
                with trio.CancelScope(shield=True):
                    await self.handle_timeout()
        except (Exception, ControlClosed) as exc:
            if not isinstance(exc, ControlClosed):
                logger.exception("%s unhandled error; session closed", self._prefix())
        finally:
            with trio.CancelScope(shield=True):
                await self._end_session()

    async def _serve_commands(self, session_scope: trio.CancelScope) -> None:
        """Greet, then read and run commands until the session ends.

        The idle timeout is the session scope's own deadline, set while the
        replies go out and the next command is awaited (and only then): no
        timer object per command or per session.
        """
        if not await self._start():
            return
        self.respond(f"220 {self.banner}")
        timeout = self.timeout
        control = self._control
        while True:
            # One deadline bounds both writing the replies and the wait for
            # the next command: a client that reads nothing is timed out too.
            if timeout:
                session_scope.deadline = trio.current_time() + timeout
            self._awaiting_command = True
            await control.flush(bounded=False)
            if self._closing:
                return
            if self._held:
                line: bytes | LineTooLong | None = self._held.popleft()
            else:
                line = await control.read_line()
            self._awaiting_command = False
            session_scope.deadline = math.inf
            if line is None:
                return
            await self.handle_line(line)

    async def _start(self) -> bool:
        """Run ``on_connect`` and prepare the connection; False: end the session."""
        if self.overrides("on_connect"):
            await self.call_hook(self.on_connect)
        return not self._closing and await self.prepare_control_connection()

    async def prepare_control_connection(self) -> bool:
        """Called before the greeting; False ends the session (implicit FTPS
        does its handshake here)."""
        return True

    async def handle_timeout(self) -> None:
        """Called when the client stays idle longer than :attr:`timeout`; the session ends."""
        self.respond("421 Control connection timed out.", logfun=logger.info)
        with trio.move_on_after(5), contextlib.suppress(ControlClosed):
            await self._control.flush()
        self._closing = True

    async def _end_session(self) -> None:
        await self._close_data_channels()
        await self._control.aclose()
        self.fs = None
        self.log("FTP session closed (disconnect).")
        if self.overrides("on_disconnect"):
            with trio.move_on_after(HOOK_GRACE_PERIOD):
                await self.call_hook(self.on_disconnect)

    async def _close_data_channels(self) -> None:
        """Close every data endpoint the session still holds (see the data mixin)."""

    def close(self) -> None:
        """Disconnect the client now; queued replies may be lost."""
        self._closing = True
        self._control.discard()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    def close_when_done(self) -> None:
        """Disconnect the client once the queued replies are sent."""
        self._closing = True

    # --- status

    def status_lines(self) -> list[str]:
        """Return the body of the ``211`` reply to STAT without argument."""
        if self.authenticated:
            user = f"Logged in as: {sanitize(self.username)}"
        else:
            user = "Waiting for password." if self.username else "Waiting for username."
        kind = "ASCII" if self._current_type == "a" else "Binary"
        return [
            f" Connected to: {self.remote_ip}:{self.remote_port}",
            f" {user}",
            f" TYPE: {kind}; STRUcture: File; MODE: Stream",
            f" {self.data_channel_status()}",
        ]

    def data_channel_status(self) -> str:
        """Describe the data connection for STAT (the data-connection mixin knows more)."""
        return "Data connection closed."

    # --- commands

    async def handle_line(self, raw: bytes | LineTooLong) -> None:
        """Run one received command line."""
        if isinstance(raw, LineTooLong):
            self.respond("500 Command too long.")
            return
        try:
            line = raw.decode(self.encoding, self.unicode_errors)
        except UnicodeDecodeError:
            self.respond("501 Can't decode command.")
            return
        name, arg = split_command(line)
        if logger.isEnabledFor(logging.DEBUG):
            self.logline("<- " + (f"{name} ******" if name == "PASS" else sanitize(line)))
        spec = self.proto_cmds.get(name)
        if spec is None:
            self.unknown_command(name, arg)
            return
        problem = argument_error(spec["arg"], arg)
        if problem is not None:
            self.respond(f"501 {problem}")
            return
        if "\x00" in arg:
            self.respond("501 Syntax error: NUL byte in argument.")
            return
        try:
            if (spec["auth"] or (name == "STAT" and arg)) and not self.authenticated:
                self.respond("530 Log in with USER and PASS first.")
                return
            await self.run_command(name, arg, spec)
        finally:
            if name not in _KEEP_RESTART_MARKER:
                self._restart_position = 0

    def unknown_command(self, name: str, arg: str) -> None:
        """Answer a command the table does not have: ``502`` if FTP defines it, else ``500``."""
        if name in NOT_IMPLEMENTED:
            self.respond(f"502 Command {name!r} not implemented.")
        else:
            self.respond(f'500 Command "{sanitize(name)}" not understood.')

    async def run_command(self, name: str, arg: str, spec: Mapping[str, object]) -> None:
        """Call ``ftp_<NAME>``, turning path arguments into checked filesystem paths."""
        method = getattr(self, "ftp_" + name.replace(" ", "_"), None)
        if method is None:
            self.respond(f"502 Command {name!r} not implemented.")
            return
        args: tuple[object, ...] = (arg,)
        kwargs: dict[str, object] = {}
        perm = spec.get("perm")
        if perm and self.authenticated and name != "STOU" and (arg or name != "STAT"):
            converted = self._path_arguments(name, arg)
            if converted is None:
                return
            path, kwargs = converted
            args = (path,)
            if not getattr(method, "_trioftp_checks_path", False):
                problem = await self.run_blocking(self.check_path, path, str(perm))
                if problem is not None:
                    self.respond(problem)
                    return
        try:
            result = method(*args, **kwargs)
            if inspect.isawaitable(result):
                await result
        except (OSError, FilesystemError) as exc:
            self.respond(os_error_reply(exc))

    def _path_arguments(self, name: str, arg: str) -> tuple[str, dict[str, object]] | None:
        """Return the filesystem path a command works on, and extra arguments."""
        fs = self.vfs
        kwargs: dict[str, object] = {}
        if name in ("CWD", "XCWD"):
            arg = arg or "/"
        elif name in ("CDUP", "XCUP"):
            arg = ".."
        elif name in ("SITE CHMOD", "MFMT"):
            first, _, rest = arg.partition(" ")
            if not rest:
                self.respond("501 Syntax error: command needs two arguments.")
                return None
            kwargs = {"mode": first} if name == "SITE CHMOD" else {"timeval": first}
            arg = rest
        elif name == "LIST":
            arg = _strip_ls_options(arg)
        if not arg:
            arg = fs.cwd
        return fs.ftp2fs(arg), kwargs

    def check_path(self, path: str, perm: str) -> str | None:
        """Check jail and permission for *path* (in a worker thread).

        Returns the reply to send if the command must not go on.
        """
        fs = self.vfs
        if not fs.validpath(path):
            shown = sanitize(fs.fs2ftp(path))
            return f'550 "{shown}" points to a path outside the user\'s root directory.'
        if perm and not self.authorizer.has_perm(self.username, perm, path):
            return "550 Not enough privileges."
        return None

    async def path_command(self, name: str, path: str, work: Callable[[], str]) -> None:
        """Check *path* for command *name*, then run *work*, in one thread hop.

        *work* does the filesystem operation and returns the reply; a
        filesystem error becomes a ``550`` (or ``451``/``452``) reply.
        """
        perm = self.perm_of(name)

        def checked_work() -> str:
            return self.check_path(path, perm) or work()

        try:
            reply = await self.run_blocking(checked_work)
        except (OSError, FilesystemError) as exc:
            reply = os_error_reply(exc)
        self.respond(reply)

    def perm_of(self, name: str) -> str:
        """The permission letter the command table gives *name* ("" for none)."""
        spec = self.proto_cmds.get(name)
        perm = spec.get("perm") if spec is not None else None
        return str(perm) if perm else ""

    @property
    def vfs(self) -> AbstractedFS:
        """The logged-in user's filesystem (only valid after login)."""
        if self.fs is None:
            raise FilesystemError("Not logged in")
        return self.fs

    # --- blocking work

    async def run_blocking(self, function: Callable[..., T], *args: Any) -> T:
        """Run a blocking call (filesystem, authorizer) in a worker thread.

        After login the call runs impersonating the user, as pyftpdlib's
        ``run_as_current_user`` does. Override to change where blocking work
        runs (tests run it inline on Trio's mock clock).
        """
        if self.authenticated:
            return await trio.to_thread.run_sync(
                self.run_as_current_user, function, *args, limiter=self._limiter()
            )
        return await trio.to_thread.run_sync(function, *args, limiter=self._limiter())

    def run_as_current_user(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run *function* impersonating the logged-in user (blocking)."""
        self.authorizer.impersonate_user(self.username, self.password)
        try:
            return function(*args, **kwargs)
        finally:
            self.authorizer.terminate_impersonation(self.username)

    def _limiter(self) -> trio.CapacityLimiter:
        try:
            return _THREAD_LIMITER.get()
        except LookupError:
            limiter = trio.CapacityLimiter(self.max_worker_threads)
            _THREAD_LIMITER.set(limiter)
            return limiter

    @classmethod
    def overrides(cls, name: str) -> bool:
        """True if this handler class replaces the callback *name* (else it does nothing)."""
        return getattr(cls, name) is not getattr(SessionBase, name)

    async def call_hook(self, hook: Callable[..., object], *args: object) -> None:
        """Call a user callback (plain or ``async def``); log, never raise, its errors."""
        try:
            result = hook(*args)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("%s error in %s", self._prefix(), getattr(hook, "__name__", hook))

    # --- replies

    def respond(self, resp: str, logfun: Callable[[str], None] = logger.debug) -> None:
        """Queue a reply (``"CODE text"``) to the client.

        Replies are written when the current command finishes, or at the next
        explicit flush. Text with line breaks becomes a well-formed multi-line
        reply, so client-chosen names can never forge a reply.
        """
        self._control.push(resp)
        if logger.isEnabledFor(logging.DEBUG):
            self.logline("-> " + sanitize(resp), logfun=logfun)
        elif logfun != logger.debug:  # bound methods: equal, never identical
            self.log(sanitize(resp[4:]), logfun=logfun)

    def respond_w_warning(self, resp: str) -> None:
        """Queue a reply and log it as a warning."""
        self.respond(resp, logfun=logger.warning)

    async def reply_now(self, resp: str) -> None:
        """Send a reply immediately (before a long operation starts)."""
        self.respond(resp)
        await self._control.flush()

    # --- logging

    def _prefix(self) -> str:
        values = dict(self.__dict__, username=sanitize(self.username))
        try:
            return self.log_prefix % values
        except (KeyError, TypeError, ValueError):
            return f"{self.remote_ip}:{self.remote_port}"

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

    def log_transfer(
        self, cmd: str, filename: str, receive: bool, completed: bool, elapsed: float, bytes: int
    ) -> None:
        """Log one finished transfer in pyftpdlib's format."""
        shown = self.fs.fs2ftp(filename) if self.fs is not None else filename
        self.log(
            f"{cmd} {sanitize(shown)} completed={int(completed)} bytes={bytes} "
            f"seconds={elapsed:.3f}"
        )

    # --- callbacks: override in a subclass, as plain methods or ``async def``
    # (both run in the session's task; the return value is ignored)

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


def _strip_ls_options(arg: str) -> str:
    """Drop ``ls``-style options (``-a``, ``-l``, ``-la``...) some clients send to LIST."""
    words = arg.split(" ")
    while words and len(words[0]) > 1 and words[0][0] == "-" and words[0][1:].isalpha():
        words.pop(0)
    return " ".join(words)


def _socket_addresses(stream: trio.abc.Stream) -> tuple[tuple[str, int], tuple[str, int]]:
    """Find the local and peer addresses of the socket under *stream*."""
    inner: object = stream
    while not isinstance(inner, trio.SocketStream):
        inner = getattr(inner, "transport_stream", None)
        if inner is None:
            return ("0.0.0.0", 0), ("0.0.0.0", 0)
    local = inner.socket.getsockname()
    try:
        remote = inner.socket.getpeername()
    except OSError:
        remote = ("0.0.0.0", 0)
    return (str(local[0]), int(local[1])), (str(remote[0]), int(remote[1]))
