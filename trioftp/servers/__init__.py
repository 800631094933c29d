"""Servers: accept control connections and run one session task for each.

* :mod:`.runtime` - :class:`FTPServer` and :func:`serve`: a run's lifetime,
  signals, closing, the runner for blocking work;
* :mod:`.listener` - the listening socket, the accept loop, admission, the
  per-connection task, and the :class:`~.listener.SessionFactory` protocol
  through which servers see handlers;
* :mod:`.prefork` - several worker processes on one listening socket;
* :mod:`.statistics` - :class:`ServerStatistics`, counted from the sessions' events;
* :mod:`.bans` - :class:`Bans`: hosts that fail logins or flood are refused a while.
"""

from .bans import BanPolicy, Bans
from .runtime import DEFAULT_BACKLOG, FTPServer, serve
from .statistics import ServerStatistics

__all__ = ["DEFAULT_BACKLOG", "BanPolicy", "Bans", "FTPServer", "ServerStatistics", "serve"]
