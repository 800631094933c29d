"""The pre-fork model: several processes serving one listening socket.

Each worker is a full single-process server (its own Trio event loop, its
own runner, many sessions); the kernel hands each new connection to one of
them. The parent only starts the workers, waits for them and passes
SIGINT/SIGTERM on. ``FTPServer.serve_forever(worker_processes=N)`` uses it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType
from typing import NoReturn

from ..log import logger

__all__ = ["run_workers"]


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
    serve: Callable[[], None], listening: socket.socket, workers: int | None, handle_exit: bool
) -> None:
    """Fork *workers* processes (None/<= 0: one per CPU) that each call *serve*; wait.

    *listening* is the socket the workers share; the parent closes it at the end.
    """
    count = workers if workers and workers > 0 else len(os.sched_getaffinity(0))
    children: list[int] = []
    # Before forking, so that a SIGTERM never kills the parent and orphans the workers.
    own_sigterm = handle_exit and _handle_sigterm()
    try:
        for _ in range(count):
            pid = os.fork()
            if pid == 0:  # the worker
                signal.signal(signal.SIGTERM, signal.SIG_DFL)  # serve() stops cleanly on it
                status = 0
                try:
                    serve()
                except BaseException:
                    logger.exception("worker %s failed", os.getpid())
                    status = 1
                finally:
                    os._exit(status)
            children.append(pid)
        logger.info("started %d worker processes: %s", count, children)
        while children:
            pid, _ = os.wait()
            if pid in children:
                children.remove(pid)
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
