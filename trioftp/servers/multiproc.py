"""The multi-process model: :class:`MultiprocessFTPServer`, a process per session.

Forking a process that runs Trio (or any threads) is not safe: the child
would get the parent's event loop and locks in whatever state they were.
So the parent never forks itself. Its Trio run accepts and admits each
connection, as :class:`~.runtime.FTPServer` does, then hands the connected
socket to a fresh child made by :mod:`multiprocessing`'s ``forkserver``:

* the fork server is a clean Python process, started once (with
  ``trioftp.handlers`` and the handler's module imported in advance), that
  forks a child per session - cheap, and with no Trio state in it;
* the socket travels with the request (``SCM_RIGHTS``: multiprocessing
  passes a pickled socket as a duplicated descriptor); the parent closes
  its copy once the child has it;
* the handler class travels as a :class:`~.handover.HandlerRecipe`: the
  child imports it and sets its run-time settings again (see
  :mod:`.handover` for what this asks of a handler class);
* the child runs one session in its own Trio run, blocking work inline
  (the process is the session's own). It may block, or crash, without
  touching the parent or other sessions.

The parent's task for the connection waits for the child's end (its
sentinel) and keeps the books: ``max_cons`` and ``max_cons_per_ip`` count
the session processes. Stopping the server sends each child SIGTERM, on
which it ends its session cleanly (``426`` for a transfer, ``421``); a
child still there after ``shutdown_timeout`` is killed. SIGINT is ignored
in the children: Ctrl-C reaches the whole process group, and the parent
stops them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
from multiprocessing.process import BaseProcess
from typing import Any

import trio

from ..log import config_logging, logger, logging_configured
from ..session.runner import InlineRunner
from .handover import HandlerRecipe
from .listener import LiveSessions
from .runtime import FTPServer
from .threads import run_in_thread

__all__ = ["MultiprocessFTPServer"]


class MultiprocessFTPServer(FTPServer):
    """An :class:`FTPServer` that serves each session in a process of its own.

    Handler code may block, and may even crash its process, without
    touching other sessions. The handler class must be importable in a new
    process (see :mod:`.handover`); :class:`~.handover.HandlerNotPortable`
    (a ``TypeError``) says why when it is not. Session events and
    statistics happen in the children: :meth:`statistics` here counts the
    open sessions only.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recipe = HandlerRecipe(self.handler)
        preload = ["__main__", "trioftp.handlers"]  # (multiprocessing's default is __main__)
        module = getattr(self.handler, "__module__", "__main__")
        if module != "__main__" and isinstance(self._recipe.handler, type):
            preload.append(module)
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(preload)

    async def serve_connection(self, stream: trio.SocketStream, live: LiveSessions) -> None:
        """Serve the admitted connection in a new process; return when it has ended."""
        sock = socket.socket(fileno=stream.socket.detach())
        view = ServerView(self.address, self.max_cons, self.max_cons_per_ip)
        level = logger.getEffectiveLevel() if logging_configured() else None
        process = self._context.Process(
            target=serve_session_process,
            args=(self._recipe.data, sock, view, level),
            name=f"trioftp-session-{sock.getpeername()[0]}",
            daemon=True,
        )
        try:
            await run_in_thread(process.start)  # a round trip to the fork server
        finally:
            sock.close()  # the child has its own copy
        child = ChildSession(process)
        live.add(child)
        try:
            await trio.lowlevel.wait_readable(process.sentinel)
        finally:
            live.discard(child)
            with trio.CancelScope(shield=True):
                await child.reap()


class ChildSession:
    """A session running in a child process, as the server stops it."""

    def __init__(self, process: BaseProcess) -> None:
        self.process = process

    def shut_down(self) -> None:
        """Ask the child to end its session (SIGTERM)."""
        self._signal(signal.SIGTERM)

    async def reap(self) -> None:
        """Wait for the child's end (killing it if it is still there); log a crash."""
        process = self.process
        if process.exitcode is None and process.is_alive():
            self._signal(signal.SIGKILL)  # the server is going: no more waiting
        await run_in_thread(process.join)
        if process.exitcode not in (0, -signal.SIGKILL):
            logger.warning(
                "session process %s ended with exit status %s", process.pid, process.exitcode
            )
        trio.lowlevel.notify_closing(process.sentinel)
        process.close()

    def _signal(self, signum: int) -> None:
        pid = self.process.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)


class ServerView:
    """What a session in a child process sees as its ``server``."""

    def __init__(self, address: tuple[str, int], max_cons: int, max_cons_per_ip: int) -> None:
        self.address = address
        self.max_cons = max_cons
        self.max_cons_per_ip = max_cons_per_ip
        self.ioloop: object = None
        #: The session's blocking work runs on its own process's thread.
        self.runner = InlineRunner()


def serve_session_process(
    recipe: bytes, sock: socket.socket, server: ServerView, log_level: int | None
) -> None:
    """A child's whole life: rebuild the handler, serve the one session on *sock*."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us (SIGTERM)
    if log_level is not None and not logging_configured():  # (the main module may have)
        config_logging(log_level)
    handler = HandlerRecipe.load(recipe)
    trio.run(_serve_one, handler, sock, server)


async def _serve_one(handler: Any, sock: socket.socket, server: ServerView) -> None:
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
    session = handler(stream, server, None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_shut_down_on_sigterm, session)
        await session.handle_session()
        nursery.cancel_scope.cancel()


async def _shut_down_on_sigterm(session: Any) -> None:
    with trio.open_signal_receiver(signal.SIGTERM) as signals:
        async for _ in signals:
            session.shut_down()
