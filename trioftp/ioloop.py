"""pyftpdlib's ``ioloop`` module on Trio: scheduled calls, the socket map, asyncore-style handlers.

Trio is the event loop; :class:`IOLoop` keeps pyftpdlib's interface on top
of it:

* ``IOLoop.instance()`` is the loop servers and handlers use by default
  (``server.ioloop``, ``handler.ioloop``); ``IOLoop.factory()`` makes another;
* ``call_later(seconds, target, *args, **kwargs)`` and ``call_every(...)``
  return a call with ``cancel()``, ``reset()`` and ``cancelled``; time is
  Trio's clock (``trio.testing.MockClock`` in tests). A call that raises is
  logged and the server goes on;
* ``socket_map`` maps each open socket's descriptor to its owner: the
  listening server, each session's handler, each dispatcher;
* ``loop(timeout=None, blocking=True)`` runs the loop in a Trio run of its
  own, until no dispatcher is left (without *blocking*: one pass);
  ``close()`` closes every owner and cancels every call;
* :class:`AsyncChat`, :class:`Connector` and :class:`Acceptor` keep
  asyncore/asynchat's API for code that writes its own protocol handlers;
  each instance runs as a task of the loop.

Where calls and dispatchers run: while a server serves
(``serve_forever()``, ``await server.serve()``, ``trioftp.serve(...)``) its
Trio run hosts its loop, so callbacks run on that run's thread, among its
sessions. Calls made before that (or from a plain thread) wait, and the
first run hosting the loop takes them over. A Trio program hosts a loop
itself with ``async with ioloop.running():``. ``docs/ioloop.md`` has the
details and an example.
"""

from __future__ import annotations

import socket  # noqa: F401  (pyftpdlib's tests patch ``ioloop.socket.socket``)
import time

# The names with an underscore are pyftpdlib's private ones, which its own
# tests (and some programs) reach for.
from ._asyncchat import Acceptor, AsyncChat, Connector
from ._dispatcher import ERRNOS_DISCONNECTED as _ERRNOS_DISCONNECTED  # noqa: F401
from ._dispatcher import ERRNOS_RETRY as _ERRNOS_RETRY  # noqa: F401
from ._eventloop import IOLoop
from ._scheduler import CallEvery as _CallEvery  # noqa: F401
from ._scheduler import CallLater as _CallLater  # noqa: F401
from ._scheduler import Scheduler as _Scheduler  # noqa: F401
from ._scheduler import SchedulingError
from .log import logger  # noqa: F401  (patched by pyftpdlib's tests)

__all__ = ["Acceptor", "AsyncChat", "Connector", "IOLoop", "SchedulingError", "timer"]

#: The clock of the calls made while no Trio run hosts a loop (pyftpdlib's name).
timer = time.monotonic
