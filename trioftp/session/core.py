"""The session: one per control connection, composed of explicit parts.

:class:`Session` runs as one Trio task and owns a nursery (so a cancel
scope): the command loop is its body, and the data channel's tasks (a
passive accept, a transfer) run in it too, so ending the session - QUIT, a
timeout, a dropped connection, server shutdown - cancels all of them and
their ``finally`` blocks close every file and socket. Its parts are listed
in :mod:`trioftp.session`; :mod:`.dispatch` calls the ``ftp_<CMD>`` methods
of :mod:`trioftp.session.commands`, which :class:`trioftp.handlers.FTPHandler`
assembles with this class into pyftpdlib's façade.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar, cast

import trio

from .._eventloop import IOLoop
from .._util import call_maybe_async, replaces
from ..filesystems import AbstractedFS, FilesystemError
from ..log import logger
from ..protocol.commands import method_name
from . import dispatch
from .accounting import SessionAccounting
from .auditlog import AuditLog, new_session_number
from .blocking import BlockingWork
from .callbacks import SessionCallbacks
from .commandhook import CommandHook
from .control import ControlChannel, ControlClosed, socket_descriptor, stream_addresses
from .dataconn import DataChannel, DataConnector, TCPConnector, unprotected
from .events import NO_OBSERVERS, SessionEvents, SessionStatistics
from .idledeadlines import IdleDeadlines
from .pacing import CommandPacer
from .paths import jail_and_permission
from .permissions import mlsx_perm_fact
from .proxied import ProxyGate
from .runner import Runner
from .sessionlog import SessionLog
from .settings import SessionSettings
from .shutdown import ServerShutdown
from .siteselection import SiteSelection
from .state import SessionState
from .status import session_statistics, status_lines
from .tls import TLSHost, TLSProtection
from .transfers import DataMover, Transfers

__all__ = ["Session"]


_DEFAULT_CONNECTOR = TCPConnector()
#: Replies are logged at DEBUG unless told otherwise (one bound method, so
#: the common case is an identity check).
_DEBUG = logger.debug


class Session(
    SessionSettings,
    SessionCallbacks,
    SessionAccounting,
    BlockingWork,
    AuditLog,
    CommandHook,
    SiteSelection,
    SessionLog,
    ServerShutdown,
):
    """One FTP session: its parts, its life, its replies and log lines."""

    #: The FTPS protection policy class (``TLS_FTPHandler`` sets it).
    protection: ClassVar[type[TLSProtection] | None] = None
    #: trioftp: makes active (PORT/EPRT) data connections (tests give their own).
    data_connector: DataConnector = _DEFAULT_CONNECTOR

    def __init__(
        self,
        conn: trio.abc.Stream,
        server: Any = None,
        ioloop: IOLoop | None = None,
        *,
        local_address: tuple[str, int] | None = None,
        remote_address: tuple[str, int] | None = None,
        runner: Runner | None = None,
    ) -> None:
        """Prepare a session on the connected control stream *conn*.

        The addresses are read from the socket under *conn*; pass them
        explicitly when *conn* is not a socket (tests on memory streams).
        Blocking work runs in *runner*, else in the server's runner, else
        in worker threads (until login chooses the user's runner).
        """
        self.server = server
        #: The :class:`~trioftp.ioloop.IOLoop` (the server's; by default the shared one).
        self.ioloop = ioloop if ioloop is not None else IOLoop.instance()
        if local_address is None or remote_address is None:
            local, remote = stream_addresses(conn)
            local_address = local_address or local
            remote_address = remote_address or remote
        self.local_ip, self.local_port = local_address
        self.remote_ip, self.remote_port = remote_address
        self.started = time.time()
        #: This session's number in audit logs (unique within the process).
        self.session_id = new_session_number()
        # Every session sets these: set now, they cost no resize of the dict.
        self._nursery: trio.Nursery | None = None
        self._awaiting_command = False
        #: The logged-in user's filesystem (None before login).
        self.fs: AbstractedFS | None = None
        self.session_state = SessionState()
        self.control_channel = ControlChannel(
            conn,
            encoding=self.encoding,
            errors=self.unicode_errors,
            max_line=self.max_line_length,
            send_timeout=self.timeout,
        )
        self._use_runner(runner, server)
        events = getattr(server, "session_events", None)
        if isinstance(events, SessionEvents):
            self.session_events = events
        if self.protection is not None:
            # Only TLS_FTPHandler sets a protection, and it has the TLS settings.
            self.tls_protection = self.protection(cast(TLSHost, self))

    # Defaults of what only some sessions set live on the class, so an idle
    # session stores only what it has (sessions are many; see the idle-memory
    # benchmark).
    #: The emitter this session's events go to (its server's).
    session_events: SessionEvents = NO_OBSERVERS
    #: The FTPS policy of this session (TLS_FTPHandler only).
    tls_protection: TLSProtection | None = None
    _data: DataChannel | None = None
    _transfers: Transfers | None = None
    _closing = False

    @property
    def proxy_gate(self) -> ProxyGate | None:
        """The server's PROXY-header rule, which passive data connections follow too."""
        try:
            gate = getattr(self.server, "proxy_gate", None)
        except ValueError:  # proxy_protocol_from was set to something invalid (logged
            return None  # by the listener at each new connection); read no header
        return gate if isinstance(gate, ProxyGate) else None

    # --- the parts made on first use

    @property
    def nursery(self) -> trio.Nursery:
        """The session's nursery (only while the session runs)."""
        if self._nursery is None:
            raise RuntimeError("the session is not running")
        return self._nursery

    @property
    def data_connections(self) -> DataChannel:
        """The data channel (made at the first PASV/PORT or transfer)."""
        if self._data is None:
            tls = self.tls_protection
            protect = tls.protect_data if tls is not None else unprotected
            connected = tls.data_connected if tls is not None else None
            self._data = DataChannel(self, self.nursery, protect, self._warn, connected)
        return self._data

    @property
    def transfers(self) -> Transfers:
        """The transfers (made at the first transfer command)."""
        if self._transfers is None:
            self._transfers = Transfers(self)
        return self._transfers

    @property
    def vfs(self) -> AbstractedFS:
        """The logged-in user's filesystem (only valid after login)."""
        if self.fs is None:
            raise FilesystemError("Not logged in")
        return self.fs

    def new_data_mover(self, stream: trio.abc.Stream) -> DataMover:
        """The handler's ``dtp_handler`` over a new data connection."""
        return self.dtp_handler(stream, self)

    @property
    def file_transfers_done(self) -> int:
        """File transfers (not listings) this session finished, completed or not."""
        return self._transfers.files_done if self._transfers is not None else 0

    def transfer_refusal(self) -> str | None:
        """Why no transfer may start now, beyond a missing data connection (FTPS)."""
        return self.tls_protection.data_refusal() if self.tls_protection is not None else None

    # --- the session's life

    async def handle_session(self) -> None:
        """Run the whole session: greeting, commands, cleanup.

        Never raises for anything a client can do; a bug is logged with its
        traceback and ends only this session.
        """
        fd = self._join_socket_map()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                try:
                    await self._serve_commands(nursery.cancel_scope)
                except ControlClosed:
                    pass
                finally:
                    # Cancelled before we cancel it ourselves: by the idle
                    # deadline (or a close, which sets _closing).
                    expired = nursery.cancel_scope.cancel_called
                    if nursery.child_tasks:  # (cancel() costs ~2 us: only when needed)
                        nursery.cancel_scope.cancel()
            idle = self._awaiting_command and not self._closing
            if idle and expired and nursery.cancel_scope.cancelled_caught:
                with trio.CancelScope(shield=True):
                    await self.handle_timeout()
        except (Exception, ControlClosed) as exc:
            if not isinstance(exc, ControlClosed):
                self.log_exception("unhandled error; session closed")
        finally:
            self._nursery = None  # not running any more: close() has nothing to cancel
            if fd is not None:
                self.ioloop.unregister(fd, self)
            with trio.CancelScope(shield=True):
                await self._end_session()

    def _join_socket_map(self) -> int | None:
        """Enter the ioloop's ``socket_map`` (where pyftpdlib code finds the sessions)."""
        fd = socket_descriptor(self.control_channel.stream)
        if fd is not None:
            self.ioloop.register(fd, self)
        return fd

    async def _serve_commands(self, session_scope: trio.CancelScope) -> None:
        """Greet, then read and run commands until the session ends.

        The idle timeout cancels the session scope; its deadline runs while
        the replies go out and the next command is awaited (and only then),
        kept by the run's :class:`~.idledeadlines.IdleDeadlines`: no timer
        object per command or per session.
        """
        await self.session_events.connected(self)
        if self.closing or (
            self.tls_protection is not None and not await self.tls_protection.start_implicit()
        ):
            await self.control_channel.flush()  # on_connect's reply, before close_when_done
            return
        self.respond(f"220 {self.banner}")
        timeout = self.timeout or 0.0  # None or 0: no idle timeout
        # The run's clock, asked directly: trio.current_time() costs two more calls.
        clock = trio.lowlevel.current_clock()
        rate = self.max_commands_per_second
        pacer = (
            CommandPacer(rate, self.command_burst, self.command_flood_cutoff, clock.current_time())
            if rate
            else None
        )
        deadlines = IdleDeadlines.of_this_run() if timeout else None
        control = self.control_channel
        try:
            while True:
                # One deadline bounds both writing the replies and the wait for
                # the next command: a client that reads nothing is timed out too.
                if deadlines is not None:
                    deadlines.idle_until(session_scope, clock.current_time() + timeout)
                self._awaiting_command = True
                await control.flush(bounded=False)
                if self._closing:
                    return
                # A held command first (no extra coroutine frame: idle sessions are many).
                line = control.next_held()
                if line is None:
                    line = await control.read_line()
                self._awaiting_command = False
                if deadlines is not None:
                    deadlines.busy(session_scope)
                if line is None:
                    return
                self.session_events.command_received(self)
                if pacer is not None:
                    wait = pacer.delay(clock.current_time(), control.has_queued)
                    if wait is None:
                        self.respond(
                            "421 Too many commands; closing connection.", logfun=logger.info
                        )
                        self._closing = True
                        continue
                    if wait:
                        await trio.sleep(wait)
                await self.handle_line(line)
        finally:
            if deadlines is not None:
                deadlines.forget(session_scope)

    #: Run one received command line (see :mod:`.dispatch`); the function
    #: itself, so that calling it costs no extra coroutine frame.
    handle_line = dispatch.handle_line

    async def handle_timeout(self) -> None:
        """Called when the client stays idle longer than :attr:`timeout`; the session ends."""
        self.respond("421 Control connection timed out.", logfun=logger.info)
        await self._flush_last()
        self._closing = True

    async def _end_session(self) -> None:
        if self._farewell is not None:
            await self._say_farewell(self._farewell)
        if not self._closed:  # pyftpdlib calls close() as every session ends
            try:
                self.close()
            except Exception:
                self.log_exception("close() failed")
        if self._data is not None:
            self._data.close()
        await self.control_channel.aclose()
        self.fs = None
        self._leave_account()
        if self._login_runner is not None:
            self._drop_login_runner()
        await self.session_events.disconnected(self)

    @property
    def closing(self) -> bool:
        """True once the session is to end (QUIT, ``close_when_done``, ``close``)."""
        return self._closing

    _closed = False

    def close(self) -> None:
        """Disconnect the client now; queued replies may be lost.

        Called once as every session ends, as in pyftpdlib: an override that
        releases what the handler holds (``call_every`` calls...) runs then.
        """
        self._closed = True
        self._closing = True
        self.control_channel.discard()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    def close_when_done(self) -> None:
        """Disconnect the client once the queued replies are sent."""
        self._closing = True

    # --- login and logout (the state, the runner and the filesystem together)

    def start_login(self, username: str, password: str, home: str) -> None:
        """Log *username* in with *home* as the filesystem's root."""
        state = self.session_state
        state.username, state.password = username, password
        state.attempted_logins = 0
        self._choose_login_runner(username, password)
        self.fs = self.abstracted_fs(home, self)
        state.authenticated = True

    def flush_account(self) -> None:
        """Forget the logged-in user and per-login state (REIN, a new USER)."""
        self.session_state.new_login(
            protected_by_default=self.tls_protection is not None and self.tls_protection.implicit,
            keep_host=True,
        )
        if self._login_runner is not None:
            self._drop_login_runner()
        self.fs = None
        self._leave_account()

    async def logout(self) -> None:
        """Close the data channel, forget the login, and call ``on_logout``."""
        if self._data is not None:
            self._data.close()
        state = self.session_state
        username = state.username if state.authenticated else ""
        self.flush_account()
        if username:
            await self.session_events.logged_out(self, username)

    def status_lines(self) -> list[str]:
        """Return the body of the ``211`` reply to STAT without argument."""
        return status_lines(self)

    def statistics(self) -> SessionStatistics:
        """A snapshot of this session's counters."""
        return session_statistics(self)

    def check_path(self, path: str, perm: str) -> str | None:
        """Check jail and permission letter *perm* for *path* (blocking: in the runner).

        Returns the reply to send if the command must not go on. Every
        command's path goes through here; a subclass may add its own rules.
        """
        return jail_and_permission(self, path, perm)

    def mlsx_perm_fact(self, perms: str) -> Callable[[str, bool], str]:
        """The MLSx ``perm`` fact of each entry (asked by the filesystem's listings)."""
        return mlsx_perm_fact(self.authorizer, self.session_state.username, perms)

    async def call_command(self, name: str, *args: object, **kwargs: object) -> None:
        """Call the handler's ``ftp_<name>`` (a subclass's override included)."""
        await call_maybe_async(getattr(self, method_name(name)), *args, **kwargs)

    # --- replies

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._respond_replaced = replaces(cls, Session, "respond")
        cls._log_replaced = replaces(cls, Session, "log")
        cls._log_cmd_replaced = replaces(cls, Session, "log_cmd")
        cls._log_transfer_replaced = replaces(cls, Session, "log_transfer")
