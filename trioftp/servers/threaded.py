"""The multi-thread model: :class:`ThreadedFTPServer`, a thread per session.

The server's own Trio run accepts and admits connections, as
:class:`~.runtime.FTPServer` does; each admitted connection is then served
by a thread of its own that runs a Trio run of its own (``trio.run``) with
just that session in it. Handler code - a plain ``ftp_*`` method, an
``on_login`` that calls a slow database, a ``time.sleep`` - may therefore
block: it stalls its own session only, never the accept loop or another
session, because nothing else runs on that thread.

Blocking work (filesystem, authorizer) runs inline on the session's thread
(:class:`~trioftp.session.runner.InlineRunner`): the thread is the
session's own, so handing calls to further worker threads would only add
a thread hop. The server's task for the connection waits for the thread
and keeps the books (``max_cons`` and ``max_cons_per_ip`` count these
sessions, one thread each); stopping the server asks each session, in its
own run, to end (``426`` for a transfer in flight, ``421``).
"""

from __future__ import annotations

import contextlib
import socket
import threading

import trio

from ..session.runner import InlineRunner, Runner
from .listener import LiveSessions, ServerSession, new_session
from .runtime import FTPServer
from .threads import run_in_thread

__all__ = ["ThreadedFTPServer"]


class ThreadedFTPServer(FTPServer):
    """An :class:`FTPServer` that serves each session in a thread of its own.

    Handler code may block without stalling other sessions. Takes the same
    arguments as :class:`FTPServer` (pyftpdlib's default backlog here is 5;
    trioftp keeps the kernel's maximum so that bursts queue). A *runner*
    given is shared by the sessions' separate Trio runs, so it must hold
    nothing of one run (``InlineRunner()``, ``ThreadRunner()`` without
    ``max_threads``).
    """

    def default_runner(self) -> Runner:
        """Blocking calls run on the session's own thread."""
        return InlineRunner()

    async def serve_connection(
        self,
        stream: trio.SocketStream,
        live: LiveSessions,
        *,
        remote_address: tuple[str, int] | None = None,
    ) -> None:
        """Serve the admitted connection in a new thread; return when it has ended."""
        fd = stream.socket.detach()  # the session thread's run owns the socket from now on
        session = ThreadSession()
        live.add(session)
        try:
            await run_in_thread(
                self._serve_in_thread, fd, session, remote_address, name="trioftp-session"
            )
        finally:
            live.discard(session)

    def _serve_in_thread(
        self, fd: int, session: ThreadSession, remote_address: tuple[str, int] | None
    ) -> None:
        trio.run(self._serve_one, socket.socket(fileno=fd), session, remote_address)

    async def _serve_one(
        self,
        sock: socket.socket,
        thread_session: ThreadSession,
        remote_address: tuple[str, int] | None,
    ) -> None:
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
        try:
            session = new_session(self.handler, stream, self, self.ioloop, remote_address)
        except BaseException:
            await stream.aclose()
            raise
        thread_session.attach(trio.lowlevel.current_trio_token(), session)
        await session.handle_session()


class ThreadSession:
    """A session running in its own thread's Trio run, as the server stops it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token: trio.lowlevel.TrioToken | None = None
        self._session: ServerSession | None = None
        self._stop_requested = False

    def attach(self, token: trio.lowlevel.TrioToken, session: ServerSession) -> None:
        """The session now runs in the run of *token* (called in that run)."""
        with self._lock:
            self._token, self._session = token, session
            stop = self._stop_requested
        if stop:
            session.shut_down()

    def shut_down(self) -> None:
        """Ask the session, in its own run, to end (called in the server's run)."""
        with self._lock:
            self._stop_requested = True
            token, session = self._token, self._session
        if token is not None and session is not None:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(session.shut_down)
