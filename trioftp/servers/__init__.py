"""Servers: accept control connections and run one session task for each.

* :mod:`.runtime` - :class:`FTPServer` and :func:`serve`: a run's lifetime,
  signals, closing, the runner for blocking work;
* :mod:`.listener` - the listening socket, the accept loop, admission, the
  per-connection task, and the :class:`~.listener.SessionFactory` protocol
  through which servers see handlers;
* :mod:`.signals` - which signals stop a server, and the program's own handlers;
* :mod:`.prefork` - several worker processes on one listening socket;
* :mod:`.threaded` - :class:`ThreadedFTPServer`, a thread per session;
* :mod:`.multiproc` - :class:`MultiprocessFTPServer`, a process per session
  (with :mod:`.zygote`, the process that forks them, and :mod:`.handover`,
  which rebuilds the handler class there);
* :mod:`.threads` - the threads a server owns (its worker pool);
* :mod:`.statistics` - :class:`ServerStatistics`, counted from the sessions' events;
* :mod:`.bans` - :class:`Bans`: hosts that fail logins or flood are refused a while.
"""

from .bans import BanPolicy, Bans
from .handover import HandlerNotPortable
from .multiproc import MultiprocessFTPServer
from .runtime import DEFAULT_BACKLOG, FTPServer, serve
from .statistics import ServerStatistics
from .threaded import ThreadedFTPServer

__all__ = [
    "DEFAULT_BACKLOG",
    "BanPolicy",
    "Bans",
    "FTPServer",
    "HandlerNotPortable",
    "MultiprocessFTPServer",
    "ServerStatistics",
    "ThreadedFTPServer",
    "serve",
]
