"""The session-process maker of :class:`~.multiproc.MultiprocessFTPServer` (a "zygote").

Forking a process that runs Trio or threads is not safe, so the server
starts this module as a fresh Python process (``subprocess``: fork and
exec at once, safe anywhere) when its run begins, and stops it when the run
ends. The zygote imports the handler's code and rebuilds the handler class
once (:mod:`.handover`), runs no Trio and no thread, and forks one child
per session: a fork of a single-threaded process with nothing running is
safe, and cheap. The child serves its one session in its own Trio run.

The conversation, over a Unix socket pair (``conn``):

* server -> zygote, first: the set-up, a 4-byte length and a pickle of
  :class:`ZygoteSetup`; the zygote answers ``b"R"`` once it has rebuilt
  the handler class (or exits, its error on stderr);
* server -> zygote: ``b"S"`` with the session's connected socket attached
  (``SCM_RIGHTS``); the zygote forks and answers ``b"P"`` + the child's pid
  (or -1 if the fork failed);
* zygote -> server, whenever a child ends: ``b"X"`` + its pid + its wait
  status (the zygote reaps its children; the server's ``max_cons`` slot is
  freed and a crash logged then);
* the server closes ``conn`` to stop the zygote, once its sessions have
  ended.

A child ignores SIGINT (Ctrl-C reaches the whole process group; the server
stops its sessions) and ends its session cleanly on SIGTERM (``426``,
``421``), the server's way of stopping it.
"""

from __future__ import annotations

import os
import pickle
import runpy
import select
import signal
import socket
import struct
import sys
import traceback
import types
from typing import Any

import attrs
import trio

from ..log import config_logging, logging_configured
from .handover import HandlerRecipe

__all__ = ["COMMAND", "EXITED", "READY", "STARTED", "ZygoteSetup", "main"]

#: How the server starts a zygote: ``[sys.executable, *COMMAND, str(fd)]``. (Not
#: ``-m`` this module: it would then exist twice, as ``__main__`` and by name.)
COMMAND = ("-c", "from trioftp.servers.zygote import main; main()")
#: The zygote's first message, once it has rebuilt the handler class.
READY = b"R"
#: The zygote's messages: b"P" + pid (int32), b"X" + pid + wait status.
STARTED = struct.Struct("!ci")
EXITED = struct.Struct("!cii")


@attrs.frozen
class ZygoteSetup:
    """What the zygote needs: the handler recipe and what its sessions see."""

    recipe: bytes
    server: Any
    log_level: int | None
    sys_path: list[str]
    #: The server program's main script, if the handler class lives in it.
    main_path: str | None


def main() -> None:
    """Serve the server's requests on the descriptor given as the only argument."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = socket.socket(fileno=int(sys.argv[1]))
    setup = _read_setup(conn)
    sys.path[:] = setup.sys_path
    if setup.log_level is not None and not logging_configured():
        config_logging(setup.log_level)
    if setup.main_path is not None:
        _load_main(setup.main_path)
    handler = HandlerRecipe.load(setup.recipe)
    conn.sendall(READY)
    # A byte on this pipe at each SIGCHLD wakes the loop to reap children.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    while True:
        readable, _, _ = select.select([conn.fileno(), wake_r], [], [])
        if wake_r in readable:
            os.read(wake_r, 4096)
        _reap(conn)
        if conn.fileno() in readable:
            message, fds, _, _ = socket.recv_fds(conn, 1, 1)
            if not message:
                break  # the server has stopped
            pid = _fork_session(handler, setup.server, fds[0], conn, wake_r, wake_w)
            os.close(fds[0])
            conn.sendall(STARTED.pack(b"P", pid))
    _reap(conn)


def _read_setup(conn: socket.socket) -> ZygoteSetup:
    (size,) = struct.unpack("!I", _receive_exactly(conn, 4))
    setup = pickle.loads(_receive_exactly(conn, size))
    if not isinstance(setup, ZygoteSetup):
        raise TypeError("not a zygote set-up")
    return setup


def _receive_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise EOFError("the server closed the connection")
        data += chunk
    return data


def _load_main(path: str) -> None:
    """Run the server's main script as ``__mp_main__`` (its ``__main__`` guard stays shut)."""
    module = types.ModuleType("__mp_main__")
    module.__dict__.update(runpy.run_path(path, run_name="__mp_main__"))
    sys.modules["__mp_main__"] = sys.modules["__main__"] = module


def _reap(conn: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn.sendall(EXITED.pack(b"X", pid, status))


def _fork_session(handler: Any, server: Any, fd: int, conn: socket.socket, *inherited: int) -> int:
    try:
        pid = os.fork()
    except OSError:
        return -1
    if pid:
        return pid
    status = 1
    try:  # the child: nothing of the zygote's but the session's socket
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        conn.close()
        for descriptor in inherited:
            os.close(descriptor)
        stop = _StopRequest()
        signal.signal(signal.SIGTERM, stop.request)
        trio.run(_serve_one, handler, socket.socket(fileno=fd), server, stop)
        status = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(status)


class _StopRequest:
    """SIGTERM before the session's Trio run listens for it: remember it."""

    def __init__(self) -> None:
        self.requested = False

    def request(self, signum: int, frame: object) -> None:
        self.requested = True


async def _serve_one(handler: Any, sock: socket.socket, server: Any, stop: _StopRequest) -> None:
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
    session = handler(stream, server, None)
    try:
        # The receiver outlives the task reading it: closed under a reader woken
        # by a SIGTERM at the session's very end, it would hand that signal back
        # while the reader still expects to take it (KeyError in trio).
        with trio.open_signal_receiver(signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                if stop.requested:
                    session.shut_down()
                nursery.start_soon(_shut_down_on, signals, session)
                await session.handle_session()
                nursery.cancel_scope.cancel()
    finally:
        # The session is over; the process only exits now. Trio closes its
        # signal wakeup socket before it unregisters it, so a SIGTERM (the
        # server stopping) in between would print a BrokenPipeError
        # traceback to stderr: nothing is left for the signal to stop.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


async def _shut_down_on(signals: Any, session: Any) -> None:
    async for _ in signals:
        session.shut_down()
