"""The server's runtime: :class:`FTPServer` and :func:`serve`.

Two ways to run a server:

* pyftpdlib style, blocking: ``FTPServer(("127.0.0.1", 2121), handler).serve_forever()``
  (in the calling thread, in a background thread with ``blocking=False``, or
  in pre-forked worker processes);
* inside a Trio program: ``await trioftp.serve(handler, "127.0.0.1", 2121)``,
  or ``await nursery.start(trioftp.serve, handler, "127.0.0.1", 0)`` which
  returns the bound address. Cancelling the surrounding scope stops the
  server and every session.

This module owns a run's lifetime (the nursery every session runs in,
signals, :meth:`FTPServer.close` and :meth:`FTPServer.close_all`) and its
shared resources: the runner whose worker threads do the sessions' blocking
work. Accepting and admitting connections is :mod:`.listener`'s job.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from types import FrameType, TracebackType
from typing import Any

import trio

from .. import systemd
from .._eventloop import IOLoop
from ..limits import Accounts
from ..log import config_logging, logger, logging_configured
from ..protocol.proxyheader import ProxySource
from ..session.events import Observer, SessionEvents
from ..session.proxied import ProxyGate
from ..session.runner import Runner, ThreadRunner
from .bans import Bans
from .listener import Listener, SessionFactory, listening_socket, set_control_options
from .prefork import run_workers
from .signals import sigterm_handler
from .startline import start_line
from .statistics import ServerCounters, ServerStatistics

__all__ = ["DEFAULT_BACKLOG", "FTPServer", "serve"]


#: The listen backlog: the kernel's maximum, so that a burst of connections
#: queues instead of failing (pyftpdlib's default of 100 loses sessions when
#: a thousand clients connect at once).
DEFAULT_BACKLOG = socket.SOMAXCONN

_SignalHandler = Callable[[int, FrameType | None], Any]


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
        the server makes a :class:`~trioftp.session.runner.ThreadRunner` of
        :attr:`max_worker_threads` threads when it starts serving. *bans*
        refuses hosts that fail logins or flood the server (see
        :mod:`trioftp.servers.bans`).
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
        self._nursery: trio.Nursery | None = None
        self._accepting: trio.CancelScope | None = None
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
            threads_busy=runner.busy if isinstance(runner, ThreadRunner) else 0,
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
            self.runner = ThreadRunner(self.max_worker_threads)
        self.accounts = Accounts(self.max_download_rate, self.max_upload_rate)
        checks = self.max_login_checks
        self.login_limiter = trio.CapacityLimiter(checks) if checks else None
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
        finally:
            self._nursery = self._accepting = None
            with trio.CancelScope(shield=True):
                await listener.aclose()
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

    def serve_forever(
        self,
        timeout: float | None = None,
        blocking: bool = True,
        handle_exit: bool = True,
        worker_processes: int = 1,
    ) -> None:
        """Run the server until it is closed, or until Ctrl-C with *handle_exit*.

        *handle_exit* turns ``KeyboardInterrupt`` and ``SystemExit`` (Ctrl-C,
        or raised by the program's own SIGTERM handler) into a clean stop, and
        makes SIGTERM stop the server the same way when the program has no
        handler of its own for it; it also tells systemd (``$NOTIFY_SOCKET``)
        ``READY=1`` once the server accepts connections and ``STOPPING=1``
        when it stops (see :mod:`trioftp.systemd`).
        With ``blocking=False`` the server runs in a background thread and
        this call returns as soon as it serves (pyftpdlib would poll once);
        later calls do nothing. *timeout* is accepted for compatibility: Trio needs no poll
        timeout. *worker_processes* other than 1 pre-forks that many
        processes (``None`` or <= 0: one per CPU), each serving the shared
        listening socket with its own event loop.
        """
        if not blocking:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve_in_background, daemon=True)
                self._thread.start()
                # Return once close()/close_all() can reach the loop.
                self._serving.wait()
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
                with _sigterm_interrupts(handle_exit):
                    # KeyboardInterrupt only at a checkpoint of the main task: raised
                    # anywhere else it would cut a session's cleanup short.
                    trio.run(
                        self._serve_until_signal,
                        handle_exit,
                        restrict_keyboard_interrupt_to_checkpoints=True,
                    )
            except BaseExceptionGroup as group:
                raise _interrupt_in(group) from None
            if self._exit is not None:
                raise self._exit
        except (KeyboardInterrupt, SystemExit):
            if not handle_exit:
                raise
            logger.info("received interrupt signal")
        finally:
            self._exit = None
            self.socket.close()
            if handle_exit:
                _tell_service_manager(systemd.STOPPING)
                logger.info(">>> FTP server stopped <<<")

    def _serve_in_background(self) -> None:
        try:
            self.serve_forever(handle_exit=False)
        finally:
            self._serving.set()

    async def _serve_until_signal(self, tell_manager: bool) -> None:
        """Serve; deliver signals the program handles in Python at a safe point.

        With *tell_manager*, systemd hears ``READY=1`` once connections are accepted.
        """
        custom = {
            signum: handler
            for signum in (signal.SIGTERM, signal.SIGHUP)
            if callable(handler := signal.getsignal(signum))
            and threading.current_thread() is threading.main_thread()
        }
        async with trio.open_nursery() as nursery:
            if custom:
                nursery.start_soon(self._relay_signals, custom, nursery.cancel_scope)
            await nursery.start(self._serve_then_cancel, nursery.cancel_scope)
            if tell_manager:
                _tell_service_manager(systemd.READY)

    async def _serve_then_cancel(
        self,
        scope: trio.CancelScope,
        *,
        task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        await self.serve(task_status=task_status)
        scope.cancel()

    async def _relay_signals(
        self, handlers: dict[signal.Signals, _SignalHandler], scope: trio.CancelScope
    ) -> None:
        with trio.open_signal_receiver(*handlers) as signals:
            async for signum in signals:
                try:
                    handlers[signal.Signals(signum)](signum, None)
                except BaseException as exc:  # KeyboardInterrupt, SystemExit, ...
                    self._exit = exc
                    scope.cancel()
                    return

    def _serve_prefork(self, workers: int | None, handle_exit: bool) -> None:
        count = workers if workers and workers > 0 else len(os.sched_getaffinity(0))
        if handle_exit:
            logger.info(start_line(self.address, os.getpid(), self.handler, workers=count))
        try:
            run_workers(
                self._serve_as_worker,
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

    def _serve_as_worker(self) -> None:
        self._announce = False
        self.serve_forever(handle_exit=True)

    # --- stopping

    def close(self) -> None:
        """Stop accepting; the server stops once the last session has ended."""
        self._in_loop(self._stop_accepting)

    def close_all(self) -> None:
        """Disconnect every client, stop the server, and wait until it has stopped."""
        self._in_loop(self._cancel_all)
        if self._token is not None and not self._in_trio_thread():
            self._stopped.wait(10)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(10)  # the blocking=False thread: gone once this returns
        self.socket.close()
        self.ioloop.unregister(self._map_fd, self)

    def _stop_accepting(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
            # Refuse new connections now (as pyftpdlib does), not once the sessions end.
            trio.lowlevel.notify_closing(self.socket)
            self.socket.close()
        elif self._nursery is None:
            self.socket.close()

    def _cancel_all(self) -> None:
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    def _in_trio_thread(self) -> bool:
        try:
            return trio.lowlevel.current_trio_token() is self._token
        except RuntimeError:
            return False

    def _in_loop(self, function: Callable[[], None]) -> None:
        """Call *function* in the server's event loop, from any thread."""
        if self._token is None or self._stopped.is_set() or self._in_trio_thread():
            function()
            return
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


@contextlib.contextmanager
def _sigterm_interrupts(handle_exit: bool) -> Iterator[None]:
    """While serving with *handle_exit*, SIGTERM stops the server as Ctrl-C does.

    Only in the main thread, and only if the program left SIGTERM at its
    default (which would kill the process with no stop line and status 143).
    """
    own = (
        handle_exit
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    )
    if own:
        signal.signal(signal.SIGTERM, sigterm_handler())
    try:
        yield
    finally:
        if own:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _tell_service_manager(state: str) -> None:
    """Send *state* to systemd if it asked for notifications; log (not raise) a failure."""
    try:
        systemd.notify(state)
    except OSError as exc:
        logger.warning("could not tell systemd %s: %s", state, exc)


def _interrupt_in(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The KeyboardInterrupt/SystemExit a task group carries, or the group itself."""
    interrupts, rest = group.split((KeyboardInterrupt, SystemExit))
    if interrupts is None or rest is not None:
        return group
    first: BaseException = interrupts
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first


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
