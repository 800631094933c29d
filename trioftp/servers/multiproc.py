"""The multi-process model: :class:`MultiprocessFTPServer`, a process per session.

Forking a process that runs Trio (or any threads) is not safe: the child
would get the parent's event loop and locks in whatever state they were.
So the server never forks itself. Its Trio run accepts and admits each
connection, as :class:`~.runtime.FTPServer` does, then hands the connected
socket to its *zygote* (:mod:`.zygote`): a fresh Python process started
(by ``subprocess``, fork and exec at once) when the run begins, which has
imported the handler's code and rebuilt the handler class once
(:mod:`.handover`), runs no Trio and no thread, and forks a child per
session. The socket travels as an ``SCM_RIGHTS`` message; the server closes
its copy once the child has it. The child serves its one session in its
own Trio run, blocking work inline (the process is the session's own); it
may block, or crash, without touching the server or other sessions.

The server's task for the connection waits for the zygote to report the
child's end, and keeps the books: ``max_cons`` and ``max_cons_per_ip``
count the session processes. Stopping the server sends each child SIGTERM,
on which it ends its session cleanly (``426`` for a transfer, ``421``); a
child still there after ``shutdown_timeout`` is killed. Once every session
has ended the zygote is stopped too: a stopped server leaves no process
behind.
"""

from __future__ import annotations

import array
import contextlib
import functools
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any

import trio

from ..log import logger, logging_configured
from ..session.runner import InlineRunner
from .handover import HandlerRecipe
from .listener import LiveSessions
from .runtime import FTPServer
from .threads import run_in_thread
from .zygote import COMMAND, EXITED, READY, STARTED, ZygoteSetup

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
        self._zygote: Zygote | None = None
        #: Set while no zygote process exists (close_all() waits for it).
        self._no_zygote = threading.Event()
        self._no_zygote.set()

    async def serve(
        self, *, task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve as :meth:`FTPServer.serve` does, with a zygote making the session processes."""
        self._no_zygote.clear()
        try:
            async with Zygote.running(self._setup()) as zygote:
                self._zygote = zygote
                try:
                    await super().serve(task_status=task_status)
                finally:
                    self._zygote = None
        finally:
            self._no_zygote.set()

    def close_all(self) -> None:
        """As :meth:`FTPServer.close_all`, and return once the zygote process has exited too."""
        super().close_all()
        try:
            trio.lowlevel.current_trio_token()
        except RuntimeError:  # not in a Trio run: we may wait
            self._no_zygote.wait(10)

    def _setup(self) -> ZygoteSetup:
        main = sys.modules.get("__main__")
        in_main = getattr(self.handler, "__module__", None) == "__main__"
        return ZygoteSetup(
            recipe=self._recipe.data,
            server=ServerView(self.address, self.max_cons, self.max_cons_per_ip),
            log_level=logger.getEffectiveLevel() if logging_configured() else None,
            sys_path=list(sys.path),
            main_path=getattr(main, "__file__", None) if in_main else None,
        )

    async def serve_connection(
        self,
        stream: trio.SocketStream,
        live: LiveSessions,
        *,
        remote_address: tuple[str, int] | None = None,
    ) -> None:
        """Serve the admitted connection in a new process; return when it has ended.

        The PROXY protocol is not carried to the session processes: a
        connection a load balancer relayed is refused (``proxy_protocol_from``
        is for the async, pre-fork and thread models).
        """
        if remote_address is not None:
            logger.error(
                "PROXY protocol connection refused: MultiprocessFTPServer does not support it"
            )
            await stream.aclose()
            return
        zygote = self._zygote
        if zygote is None:
            raise RuntimeError("the server is not serving")
        sock = socket.socket(fileno=stream.socket.detach())
        try:
            pid = await zygote.start_session(sock)
        finally:
            sock.close()  # the child has its own copy
        child = ChildSession(pid)
        live.add(child)
        status: int | None = None
        try:
            status = await zygote.exit_status(pid)
        finally:
            live.discard(child)
            if status is None:  # cancelled: the server is going, no more waiting
                child.signal(signal.SIGKILL)
                with trio.CancelScope(shield=True):
                    status = await zygote.exit_status(pid)
        code = os.waitstatus_to_exitcode(status)
        if code != 0 and -code not in child.signalled:
            logger.warning("session process %s ended with exit status %s", pid, code)


class ChildSession:
    """A session running in a child process, as the server stops it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        #: The signals sent to it (their deaths are not crashes).
        self.signalled: set[int] = set()

    def shut_down(self) -> None:
        """Ask the child to end its session (SIGTERM)."""
        self.signal(signal.SIGTERM)

    def signal(self, signum: int) -> None:
        """Send *signum* to the child."""
        self.signalled.add(signum)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)


class ServerView:
    """What a session in a child process sees as its ``server``."""

    def __init__(self, address: tuple[str, int], max_cons: int, max_cons_per_ip: int) -> None:
        self.address = address
        self.max_cons = max_cons
        self.max_cons_per_ip = max_cons_per_ip
        self.ioloop: object = None
        #: The session's blocking work runs on its own process's thread.
        self.runner = InlineRunner()


class Zygote:
    """The server's side of its zygote process: start sessions, hear of their ends."""

    def __init__(self, conn: trio.socket.SocketType) -> None:
        self._conn = conn
        self._lock = trio.Lock()
        self._started_send, self._started = trio.open_memory_channel[int](1)
        self._statuses: dict[int, int] = {}
        self._exits: dict[int, trio.Event] = {}
        self._gone = False
        self._stopping = False

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, setup: ZygoteSetup) -> AsyncIterator[Zygote]:
        """Start a zygote for *setup*; stop it (and wait for it) on leaving."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        argv = [sys.executable, *COMMAND, str(theirs.fileno())]
        try:
            start = functools.partial(
                subprocess.Popen, argv, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL
            )
            process = await run_in_thread(start)
        finally:
            theirs.close()
        data = pickle.dumps(setup)
        ours.sendall(struct.pack("!I", len(data)) + data)  # a Unix socket's buffer takes it
        if await run_in_thread(ours.recv, 1) != READY:  # (it imports the handler's code)
            await run_in_thread(process.wait)
            ours.close()
            raise RuntimeError(
                "the session process maker (zygote) could not start; its error is above"
            )
        zygote = cls(trio.socket.from_stdlib_socket(ours))
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(zygote._read)
                try:
                    yield zygote
                finally:
                    zygote._stopping = True
                    ours.shutdown(socket.SHUT_WR)  # the zygote ends once it sees this
                    with trio.CancelScope(shield=True):
                        await run_in_thread(process.wait)
                    nursery.cancel_scope.cancel()
        finally:
            zygote._conn.close()

    async def start_session(self, sock: socket.socket) -> int:
        """Have the zygote fork a child serving *sock*; return its pid."""
        fds = array.array("i", [sock.fileno()])
        async with self._lock:
            if self._gone:
                raise RuntimeError("the zygote process has ended")
            await self._conn.sendmsg([b"S"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
            pid = await self._started.receive()
        if pid < 0:
            raise OSError("the zygote could not fork a session process")
        return pid

    async def exit_status(self, pid: int) -> int:
        """Wait for the end of child *pid*; return its wait status."""
        if pid not in self._statuses:
            event = self._exits.setdefault(pid, trio.Event())
            await event.wait()
        return self._statuses.pop(pid)

    async def _read(self) -> None:
        buffer = b""
        while data := await self._conn.recv(4096):
            buffer += data
            while buffer:
                kind, message = buffer[:1], STARTED if buffer[:1] == b"P" else EXITED
                if len(buffer) < message.size:
                    break
                fields, buffer = message.unpack(buffer[: message.size]), buffer[message.size :]
                if kind == b"P":
                    self._started_send.send_nowait(fields[1])
                else:
                    self._exited(fields[1], fields[2])
        self._gone = True
        if not self._stopping:  # it died: its children are orphans we can't wait for
            logger.error("the session process maker (zygote) has ended")
        with contextlib.suppress(trio.WouldBlock):
            self._started_send.send_nowait(-1)
        for pid in list(self._exits):
            self._exited(pid, 0)

    def _exited(self, pid: int, status: int) -> None:
        self._statuses[pid] = status
        event = self._exits.pop(pid, None)
        if event is not None:
            event.set()
