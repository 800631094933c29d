"""The pre-fork model: several processes serving one listening socket.

Each worker is a full single-process server (its own Trio event loop, its
own runner, many sessions); the kernel hands each new connection to one of
them. ``FTPServer.serve_forever(worker_processes=N)`` uses it. The parent
forks before any Trio run exists in it, and never runs one: it starts the
workers, replaces a worker that dies (killed by a signal or exiting with
an error), and on SIGINT/SIGTERM passes SIGTERM on to every worker and
waits for all of them.

Workers never hand out the same passive port: :func:`passive_port_share`
gives each worker its own part of the handler's ``passive_ports``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import NoReturn

from ..log import logger

__all__ = ["passive_port_share", "run_workers", "worker_count"]

#: A worker that dies sooner than this after its start is replaced only
#: after this long, so that a worker failing at start-up does not spin.
_RESTART_DELAY = 1.0


def worker_count(workers: int | None) -> int:
    """*workers*, or one per usable CPU for None or <= 0."""
    return workers if workers and workers > 0 else len(os.sched_getaffinity(0))


def passive_port_share(ports: Sequence[int] | None, index: int, count: int) -> Sequence[int] | None:
    """Worker *index*'s part of *ports* (every *count*-th port), or None for any port.

    Raises ``ValueError`` if there are fewer ports than workers.
    """
    if ports is None:
        return None
    ports = list(ports)
    if len(ports) < count:
        raise ValueError(
            f"passive_ports has {len(ports)} ports for {count} worker processes: "
            "each worker needs ports of its own"
        )
    return ports[index::count]


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def _handle_sigterm() -> bool:
    """In the parent, make SIGTERM a KeyboardInterrupt unless the program handles it."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False
    signal.signal(signal.SIGTERM, _interrupt)
    return True


def run_workers(
    serve: Callable[[int], None],
    listening: socket.socket,
    count: int,
    handle_exit: bool,
    *,
    on_started: Callable[[], None] | None = None,
) -> None:
    """Fork *count* processes that each call ``serve(index)``; replace dead ones; wait.

    *listening* is the socket the workers share; the parent closes it at the
    end. *on_started* is called in the parent once every worker is forked.
    Only the parent talks to systemd: the workers do not see ``$NOTIFY_SOCKET``.
    """
    children: dict[int, tuple[int, float]] = {}  # pid -> (index, start time)

    def fork(index: int) -> None:
        # Stop signals wait while forking: one that reached a new worker inside
        # fork's at-fork handlers (logging's, for one) would be ignored there,
        # leaving a worker that never stops and a parent waiting for it.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        pid = os.fork()
        if pid == 0:  # the worker
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # serve() stops cleanly on it
            os.environ.pop("NOTIFY_SOCKET", None)  # only the parent talks to systemd
            status = 0
            try:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                serve(index)
            except KeyboardInterrupt:  # stopped before it served: a clean stop too
                pass
            except BaseException:
                logger.exception("worker %s failed", os.getpid())
                status = 1
            finally:
                os._exit(status)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        children[pid] = (index, time.monotonic())

    # Before forking, so that a SIGTERM never kills the parent and orphans the workers.
    own_sigterm = handle_exit and _handle_sigterm()
    try:
        for index in range(count):
            fork(index)
        logger.info("started %d worker processes: %s", count, list(children))
        if on_started is not None:
            on_started()
        while children:
            pid, status = os.wait()
            if pid not in children:
                continue
            index, started = children.pop(pid)
            if os.waitstatus_to_exitcode(status) == 0:
                continue  # it stopped on purpose (SIGTERM sent to it alone)
            logger.warning("worker %s ended (%s); starting a new one", pid, _describe(status))
            if time.monotonic() - started < _RESTART_DELAY:
                time.sleep(_RESTART_DELAY)
            fork(index)
            logger.info("worker %s replaces worker %s", list(children)[-1], pid)
    except (KeyboardInterrupt, SystemExit):
        if not handle_exit:
            raise
        logger.info("received interrupt signal; stopping workers")
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        if own_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        listening.close()


def _describe(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"
