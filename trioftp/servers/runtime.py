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
signals - which ones, :mod:`.signals` says -, :meth:`FTPServer.close` and
:meth:`FTPServer.close_all`, ``blocking=False``) and its shared resources:
the runner whose worker threads do the sessions' blocking work. Accepting
and admitting connections is :mod:`.listener`'s job; where an admitted
session runs is :meth:`FTPServer.serve_connection`'s (a task here, a thread
in :mod:`.threaded`, a process in :mod:`.multiproc`).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import cast

import trio

from .. import systemd
from .._eventloop import IOLoop
from ..limits import Accounts, MemoryBudget
from ..log import config_logging, logger, logging_configured
from ..protocol.proxyheader import ProxySource
from ..session.events import HOOK_GRACE_PERIOD, Observer, SessionEvents
from ..session.proxied import ProxyGate
from ..session.runner import Runner, ThreadRunner
from .bans import Bans
from .listener import (
    Listener,
    LiveSessions,
    SessionFactory,
    listening_socket,
    new_session,
    set_control_options,
)
from .prefork import passive_port_share, run_workers, worker_count
from .signals import (
    exit_signals,
    interrupt_in,
    programs_handlers,
    relay_signals,
    stop_on_signals,
)
from .startline import start_line
from .statistics import ServerCounters, ServerStatistics
from .threads import PoolRunner

__all__ = ["DEFAULT_BACKLOG", "FTPServer", "serve"]


#: The listen backlog: the kernel's maximum, so that a burst of connections
#: queues instead of failing (pyftpdlib's default of 100 loses sessions when
#: a thousand clients connect at once).
DEFAULT_BACKLOG = socket.SOMAXCONN


class FTPServer:
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

    def serve_forever(
        self,
        timeout: float | None = None,
        blocking: bool = True,
        handle_exit: bool = True,
        worker_processes: int | None = 1,
    ) -> None:
        """Run the server until it is closed, or until a signal with *handle_exit*.

        *handle_exit* makes SIGINT (Ctrl-C) and SIGTERM, and a
        ``KeyboardInterrupt`` or ``SystemExit`` raised by the program's own
        signal handler, stop the server cleanly (as :meth:`close_all`), with a
        start and a stop log line; with ``False`` they reach the caller.

        ``blocking=False`` is for a program that runs its own loop and calls
        this again and again (as pyftpdlib's test harness does): the first
        call starts the server in a background thread (its own Trio run);
        each call then waits at most *timeout* seconds (not at all if None)
        and returns early once the server has stopped. Stop it with
        :meth:`close_all` from any thread; with *handle_exit*, a
        ``KeyboardInterrupt`` (Ctrl-C) during a call stops it too. With
        ``blocking=True`` *timeout* is accepted for compatibility: Trio
        needs no poll timeout.

        *worker_processes* other than 1 pre-forks that many processes
        (``None`` or <= 0: one per CPU), each serving the shared listening
        socket with its own event loop (see :mod:`.prefork`).
        """
        if not blocking:
            if worker_processes != 1:
                raise ValueError("'worker_processes' and 'blocking' are mutually exclusive")
            self._start_in_background()
            try:
                if timeout:
                    self._stopped.wait(timeout)
            except (KeyboardInterrupt, SystemExit):
                if not handle_exit:
                    raise
                logger.info("received interrupt signal")
                self.close_all()
            return
        if handle_exit and not logging_configured():
            config_logging()
        if worker_processes != 1:
            self._serve_prefork(worker_processes, handle_exit)
            return
        if handle_exit and self._announce:
            logger.info(start_line(self.address, os.getpid(), self.handler, workers=1))
        try:
            try:
                # KeyboardInterrupt only at a checkpoint of the main task: raised
                # anywhere else it would cut a session's cleanup short.
                # Asked before trio.run, which installs its own SIGINT handler.
                trio.run(
                    self._serve_until_signal,
                    exit_signals(handle_exit),
                    restrict_keyboard_interrupt_to_checkpoints=True,
                )
            except BaseExceptionGroup as group:
                raise interrupt_in(group) from None
            if self._exit is not None:
                raise self._exit
        except (KeyboardInterrupt, SystemExit):
            if not handle_exit:
                raise
            if not self._interrupted:
                logger.info("received interrupt signal")
        finally:
            self._exit = None
            self._interrupted = False
            self.socket.close()
            if handle_exit:
                _tell_service_manager(systemd.STOPPING)
                logger.info(">>> FTP server stopped <<<")

    def _start_in_background(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._serve_in_background, name="trioftp-server", daemon=True
            )
            self._thread.start()
            # Return once close()/close_all() can reach the loop.
            self._serving.wait()

    def _serve_in_background(self) -> None:
        try:
            self.serve_forever(handle_exit=False)
        except BaseException:
            logger.exception("the server stopped on an error")
        finally:
            self._serving.set()
            self._stopped.set()

    async def _serve_until_signal(self, stopping: set[signal.Signals]) -> None:
        """Serve; stop cleanly on the exit signals; deliver the program's own handlers safely."""
        custom = programs_handlers()
        stopping -= set(custom)
        async with trio.open_nursery() as nursery:
            if custom:
                nursery.start_soon(relay_signals, custom, self._exit_raised)
            if stopping:
                nursery.start_soon(stop_on_signals, stopping, self._on_exit_signal)
            await nursery.start(self._serve_then_cancel, nursery.cancel_scope)
            if stopping or custom:  # handle_exit: a service manager may be listening
                _tell_service_manager(systemd.READY)

    async def _serve_then_cancel(
        self,
        scope: trio.CancelScope,
        *,
        task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        await self.serve(task_status=task_status)
        scope.cancel()

    def _on_exit_signal(self) -> None:
        if self._interrupted:  # a second one: don't wait for the sessions
            self._cancel_everything()
            return
        self._interrupted = True
        logger.info("received interrupt signal")
        self._close_all_in_loop()

    def _exit_raised(self, exc: BaseException) -> None:
        """The program's own signal handler raised *exc* (KeyboardInterrupt...): stop."""
        self._exit = exc
        self._close_all_in_loop()

    def _serve_prefork(self, workers: int | None, handle_exit: bool) -> None:
        count = worker_count(workers)
        ports = getattr(self.handler, "passive_ports", None)
        shares = [passive_port_share(ports, index, count) for index in range(count)]
        if handle_exit:
            logger.info(start_line(self.address, os.getpid(), self.handler, workers=count))
        try:
            run_workers(
                lambda index: self._serve_worker(shares[index]),
                self.socket,
                count,
                handle_exit,
                on_started=(lambda: _tell_service_manager(systemd.READY)) if handle_exit else None,
            )
        finally:
            if handle_exit:
                _tell_service_manager(systemd.STOPPING)
                logger.info(">>> FTP server stopped <<<")

    #: False in a pre-forked worker: the parent has logged the start line.
    _announce = True

    def _serve_worker(self, passive_ports: Sequence[int] | None) -> None:
        """One pre-forked worker: serve with this worker's own passive ports."""
        self._announce = False
        if passive_ports is not None:
            handler = cast(type, self.handler)
            own = type(handler.__name__, (handler,), {"passive_ports": passive_ports})
            self.handler = cast(SessionFactory, own)
        self.serve_forever(handle_exit=True)

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


def _tell_service_manager(state: str) -> None:
    """Send *state* to systemd if it asked for notifications; log (not raise) a failure."""
    try:
        systemd.notify(state)
    except OSError as exc:
        logger.warning("could not tell systemd %s: %s", state, exc)
