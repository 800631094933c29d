"""The server's runtime: :class:`FTPServer` and :func:`serve`.

Two ways to run a server:

* pyftpdlib style: ``FTPServer(("127.0.0.1", 2121), handler).serve_forever()``
  (in the calling thread, in a background thread with ``blocking=False``, or
  in pre-forked worker processes; see ``docs/servers.md``);
* inside a Trio program: ``await trioftp.serve(handler, "127.0.0.1", 2121)``,
  or ``await nursery.start(trioftp.serve, handler, "127.0.0.1", 0)`` which
  returns the bound address. Cancelling the surrounding scope stops the
  server and every session.

This module owns a run's lifetime (the nursery every session runs in,
:meth:`FTPServer.close` and :meth:`FTPServer.close_all`) and its shared
resources: the runner whose worker threads do the sessions' blocking work.
``serve_forever()`` (signals, ``blocking=False``, pre-fork) is in
:mod:`.forever`. Accepting
and admitting connections is :mod:`.listener`'s job; where an admitted
session runs is :meth:`FTPServer.serve_connection`'s (a task here, a thread
in :mod:`.threaded`, a process in :mod:`.multiproc`).
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType

import trio

from .._eventloop import IOLoop
from ..limits import Accounts, MemoryBudget
from ..protocol.proxyheader import ProxySource
from ..session.events import HOOK_GRACE_PERIOD, Observer, SessionEvents
from ..session.proxied import ProxyGate
from ..session.runner import Runner, ThreadRunner
from .bans import Bans
from .forever import ServeForever
from .listener import (
    Listener,
    LiveSessions,
    SessionFactory,
    listening_socket,
    new_session,
    set_control_options,
)
from .statistics import ServerCounters, ServerStatistics
from .threads import PoolRunner

__all__ = ["DEFAULT_BACKLOG", "FTPServer", "serve"]


#: The listen backlog: the kernel's maximum, so that a burst of connections
#: queues instead of failing (pyftpdlib's default of 100 loses sessions when
#: a thousand clients connect at once).
DEFAULT_BACKLOG = socket.SOMAXCONN


class FTPServer(ServeForever):
    """Listen on *address_or_socket* and serve each connection with *handler*.

    The listening socket is created (and bound) by the constructor, so a port
    in use raises :class:`OSError` here and ``server.address`` gives the
    bound port before :meth:`serve_forever` runs. Usable as a context manager;
    leaving it calls :meth:`close_all`.
    """

    #: Most simultaneous sessions; more get ``421`` and are closed.
    max_cons: int = 512
    #: Most simultaneous sessions from one IP address (0: no limit).
    max_cons_per_ip: int = 0
    #: trioftp: worker threads for blocking calls, shared by all sessions of
    #: this server (used when no *runner* is given).
    max_worker_threads: int = 40
    #: trioftp: password checks running at once (a hash costs tens of
    #: milliseconds and megabytes): more logins wait on the event loop,
    #: holding no worker thread. 0: no limit.
    max_login_checks: int = 2
    #: trioftp: bytes per second sent to all clients together (0: no limit).
    max_download_rate: int = 0
    #: trioftp: bytes per second received from all clients together (0: no limit).
    max_upload_rate: int = 0
    #: trioftp: the load balancers (addresses or networks: ``"10.0.0.5"``,
    #: ``"10.0.0.0/24"``) whose connections must begin with a PROXY header
    #: (v1 or v2) naming the real client; limits, data-connection checks,
    #: logs and ``remote_ip`` then see that client. Connections from other
    #: addresses are served as they are (no header is read). Empty: none.
    proxy_protocol_from: Sequence[ProxySource] = ()
    #: trioftp: seconds a load balancer has to send its whole PROXY header.
    proxy_protocol_timeout: float = 10
    #: trioftp: after :meth:`close`, seconds the sessions may go on before
    #: they are stopped as by :meth:`close_all` (None: as long as they like).
    close_grace_period: float | None = 60.0
    #: trioftp: seconds stopped sessions get to answer (``426``, ``421``) and
    #: run their callbacks before they are cancelled.
    shutdown_timeout: float = 5.0
    #: trioftp: bytes of transfer buffers all sessions together may hold
    #: (per process with pre-forked workers; 0: no limit). Uploads wait for
    #: it before they make a block; downloads read small pieces when it is short.
    max_transfer_memory: int = 256 << 20

    def __init__(
        self,
        address_or_socket: tuple[str, int] | socket.socket,
        handler: SessionFactory,
        ioloop: IOLoop | None = None,
        backlog: int = DEFAULT_BACKLOG,
        *,
        runner: Runner | None = None,
        bans: Bans | None = None,
    ) -> None:
        """Listen on *address_or_socket*; serve each connection with *handler*.

        *runner* runs the sessions' blocking work; by default each run of
        the server makes a pool of :attr:`max_worker_threads` threads when it
        starts serving (:meth:`default_runner`). *bans* refuses hosts that
        fail logins or flood the server (see :mod:`trioftp.servers.bans`).
        """
        if isinstance(address_or_socket, socket.socket):
            self.socket = address_or_socket
            self.socket.listen(backlog)
        else:
            self.socket = listening_socket(address_or_socket, backlog)
        set_control_options(self.socket)
        name = self.socket.getsockname()
        self._address = (str(name[0]), int(name[1]))
        self.handler = handler
        #: The :class:`~trioftp.ioloop.IOLoop` this server and its sessions use
        #: (by default the shared one); it runs while the server serves.
        self.ioloop = ioloop if ioloop is not None else IOLoop.instance()
        # In the ioloop's socket map, as in pyftpdlib, until it stops serving or is closed.
        self._map_fd = self.socket.fileno()
        self.ioloop.register(self._map_fd, self)
        self.backlog = backlog
        #: Where the sessions' blocking work runs: the *runner* given, else
        #: set when serving starts (None until then).
        self.runner: Runner | None = runner
        self._given_runner = runner
        self._listener = Listener(self)
        self._counters = ServerCounters()
        self._observers: list[Observer] = [self._counters]
        #: The emitter the sessions report their events to.
        self.session_events = SessionEvents(self._observers)
        #: trioftp: the ban state (None: nobody is banned); set before serving.
        self.bans: Bans | None = bans
        #: trioftp: the logged-in users' shared limits (remade at each run).
        self.accounts = Accounts()
        #: trioftp: bounds the password checks in progress (made at each run).
        self.login_limiter: trio.CapacityLimiter | None = None
        #: trioftp: the transfers' buffer memory (:attr:`max_transfer_memory`; made at each run).
        self.transfer_memory: MemoryBudget | None = None
        self._nursery: trio.Nursery | None = None
        self._accepting: trio.CancelScope | None = None
        #: When open sessions are stopped once accepting has ended (close()/close_all()).
        self._sessions_deadline = math.inf
        self._grace: trio.CancelScope | None = None
        self._interrupted = False
        self._token: trio.lowlevel.TrioToken | None = None
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        #: Set once serve() can be reached by close()/close_all() (or gave up).
        self._serving = threading.Event()
        self._exit: BaseException | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)`` (still known after the socket is closed)."""
        return self._address

    @property
    def proxy_gate(self) -> ProxyGate:
        """:attr:`proxy_protocol_from` and :attr:`proxy_protocol_timeout` as one rule.

        Sessions ask it about their passive data connections. Raises
        :class:`ValueError` if :attr:`proxy_protocol_from` is invalid.
        """
        return self._listener.proxy_gate()

    @property
    def ip_map(self) -> list[str]:
        """The IP address of every open session (one entry per session)."""
        return self._listener.ip_map

    def add_observer(self, observer: Observer) -> None:
        """Tell *observer* every session's events (connect, login, command, transfer...)."""
        self._observers.append(observer)

    @property
    def observers(self) -> tuple[Observer, ...]:
        """Who hears every session's events: the server's statistics, then those added."""
        return tuple(self._observers)

    def statistics(self) -> ServerStatistics:
        """A snapshot of this server's sessions, transfers and threads."""
        counters = self._counters
        runner = self.runner
        return ServerStatistics(
            sessions=len(self.ip_map),
            transfers_in_flight=counters.transfers_in_flight,
            transfers=counters.transfers,
            bytes_received=counters.bytes_received,
            bytes_sent=counters.bytes_sent,
            logins=counters.logins,
            failed_logins=counters.failed_logins,
            commands=counters.commands,
            threads_busy=runner.busy if isinstance(runner, (ThreadRunner, PoolRunner)) else 0,
            sessions_total=counters.sessions_total,
            transfers_failed=counters.transfers_failed,
            transfer_seconds=counters.transfer_seconds,
            tls_handshakes=counters.tls_handshakes,
            failed_tls_handshakes=counters.failed_tls_handshakes,
            replies=dict(counters.replies),
        )

    def __repr__(self) -> str:
        host, port = self.address
        return f"<{type(self).__name__} {host}:{port} sessions={len(self.ip_map)}>"

    # --- running

    async def serve(
        self, *, task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until :meth:`close_all`, or until :meth:`close` and the last session ends.

        Reports the bound address through *task_status* (``nursery.start``).
        Raises :class:`ValueError` if :attr:`proxy_protocol_from` holds
        something that is not an address or a network.
        """
        self._listener.proxy_gate()
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(self.socket))
        if self._given_runner is None:
            self.runner = self.default_runner()
        self.accounts = Accounts(self.max_download_rate, self.max_upload_rate)
        checks = self.max_login_checks
        self.login_limiter = trio.CapacityLimiter(checks) if checks else None
        memory = self.max_transfer_memory
        self.transfer_memory = MemoryBudget(memory) if memory > 0 else None
        if self.bans is not None and self.bans not in self._observers:
            self._observers.append(self.bans)
        self._token = trio.lowlevel.current_trio_token()
        self._stopped.clear()
        try:
            async with self._hosting_ioloop(), trio.open_nursery() as nursery:
                self._nursery = nursery
                with trio.CancelScope() as accepting:
                    self._accepting = accepting
                    self._serving.set()
                    task_status.started(self.address)
                    await self._listener.accept_loop(listener, nursery)
                await self._end_sessions()
                nursery.cancel_scope.cancel()
        finally:
            self._nursery = self._accepting = self._grace = None
            with trio.CancelScope(shield=True):
                await listener.aclose()
            if isinstance(self.runner, PoolRunner) and self._given_runner is None:
                self.runner.close()  # no call is in flight: every session has ended
            self._stopped.set()

    @contextlib.asynccontextmanager
    async def _hosting_ioloop(self) -> AsyncIterator[None]:
        """Run the ioloop's calls on this run while serving; leave its socket map after."""
        async with self.ioloop.running():
            self.ioloop.register(self._map_fd, self)
            try:
                yield
            finally:
                self.ioloop.unregister(self._map_fd, self)

    def default_runner(self) -> Runner:
        """The runner of a run when none was given: its own threads (:attr:`max_worker_threads`)."""
        return PoolRunner(self.max_worker_threads)

    async def serve_connection(
        self,
        stream: trio.SocketStream,
        live: LiveSessions,
        *,
        remote_address: tuple[str, int] | None = None,
    ) -> None:
        """Run an admitted connection's session in this task (the async model)."""
        session = new_session(self.handler, stream, self, self.ioloop, remote_address)
        live.add(session)
        try:
            await session.handle_session()
        finally:
            live.discard(session)

    async def _end_sessions(self) -> None:
        """Accepting has ended: wait for the sessions, then stop them, then cancel them."""
        listener = self._listener
        with trio.CancelScope(deadline=self._sessions_deadline) as grace:
            self._grace = grace
            await listener.wait_idle()
        self._grace = None
        listener.shut_down_sessions()
        with trio.move_on_after(self.shutdown_timeout):
            await listener.wait_idle()

    # --- stopping

    def close(self) -> None:
        """Stop accepting; the server stops once the last session has ended.

        Sessions still open after :attr:`close_grace_period` are stopped as
        by :meth:`close_all`. Callable from any thread.
        """
        self._in_loop(self._close_in_loop)

    def close_all(self) -> None:
        """Stop accepting, end every session, and wait until the server has stopped.

        Each session ends cleanly: a transfer in flight with ``426`` (its
        file closed, ``on_incomplete_file_*`` called), then ``421``; what
        is left after :attr:`shutdown_timeout` is cancelled. Callable from
        any thread, and from a signal handler.
        """
        self._in_loop(self._close_all_in_loop)
        if self._token is not None and not self._in_trio_thread():
            self._stopped.wait(self.shutdown_timeout + HOOK_GRACE_PERIOD + 5)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(10)  # the blocking=False thread: gone once this returns
        self.socket.close()
        self.ioloop.unregister(self._map_fd, self)

    def _close_in_loop(self) -> None:
        grace = self.close_grace_period
        if grace is None or self._nursery is None:  # (not serving: no clock to read)
            self._stop_sessions_at(math.inf)
        else:
            self._stop_sessions_at(trio.current_time() + grace)

    def _close_all_in_loop(self) -> None:
        self._stop_sessions_at(-math.inf)

    def _stop_sessions_at(self, deadline: float) -> None:
        self._sessions_deadline = min(self._sessions_deadline, deadline)
        if self._grace is not None:
            self._grace.deadline = self._sessions_deadline
        self._stop_accepting()

    def _stop_accepting(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
            # Refuse new connections now (as pyftpdlib does), not once the sessions end.
            trio.lowlevel.notify_closing(self.socket)
            self.socket.close()
        elif self._nursery is None:
            self.socket.close()

    def _cancel_everything(self) -> None:
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    def _in_trio_thread(self) -> bool:
        try:
            return trio.lowlevel.current_trio_token() is self._token
        except RuntimeError:
            return False

    def _in_loop(self, function: Callable[[], None]) -> None:
        """Call *function* in the server's event loop, from any thread or a signal handler."""
        if self._token is None or self._stopped.is_set():
            function()
        elif self._in_trio_thread():
            if trio.lowlevel.currently_ki_protected():
                # A signal handler that interrupted Trio's own code: not now, but soon.
                with contextlib.suppress(trio.RunFinishedError):
                    self._token.run_sync_soon(function)
            else:
                function()
        else:
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(function, trio_token=self._token)

    def __enter__(self) -> FTPServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close_all()


async def serve(
    handler: SessionFactory,
    host: str = "127.0.0.1",
    port: int = 2121,
    *,
    backlog: int = DEFAULT_BACKLOG,
    runner: Runner | None = None,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve FTP with *handler* on *host*:*port* until cancelled.

    Use ``await nursery.start(serve, handler, "127.0.0.1", 0)`` to get the
    bound ``(host, port)`` back once the server accepts connections.
    *runner* is as for :class:`FTPServer`.
    """
    server = FTPServer((host, port), handler, backlog=backlog, runner=runner)
    try:
        await server.serve(task_status=task_status)
    finally:
        server.socket.close()
