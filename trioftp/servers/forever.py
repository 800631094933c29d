"""``serve_forever()``: running a server as a whole program (a mixin of ``FTPServer``).

The blocking call pyftpdlib programs make: logging set up, the start and
stop lines, SIGINT/SIGTERM (and the program's own handlers) turned into a
clean stop, systemd told ``READY=1``/``STOPPING=1``, ``blocking=False``
for a program that runs its own loop, and pre-forked worker processes.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import trio

from .. import systemd
from ..log import config_logging, logger, logging_configured
from .listener import SessionFactory
from .prefork import passive_port_share, run_workers, worker_count
from .signals import exit_signals, interrupt_in, programs_handlers, relay_signals, stop_on_signals
from .startline import start_line

__all__ = ["ServeForever"]


class ServeForever:
    """``serve_forever()`` and what it needs: signals, background thread, pre-fork."""

    # What the mixin uses of its server (FTPServer).
    handler: SessionFactory
    socket: socket.socket
    _interrupted: bool
    _exit: BaseException | None
    _thread: threading.Thread | None
    _stopped: threading.Event
    _serving: threading.Event

    if TYPE_CHECKING:

        @property
        def address(self) -> tuple[str, int]: ...
        async def serve(self, *, task_status: trio.TaskStatus[tuple[str, int]] = ...) -> None: ...
        def close_all(self) -> None: ...
        def _close_all_in_loop(self) -> None: ...
        def _cancel_everything(self) -> None: ...

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


def _tell_service_manager(state: str) -> None:
    """Send *state* to systemd if it asked for notifications; log (not raise) a failure."""
    try:
        systemd.notify(state)
    except OSError as exc:
        logger.warning("could not tell systemd %s: %s", state, exc)
