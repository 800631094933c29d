"""What trioftp offers in place of pyftpdlib's ``ioloop`` module.

pyftpdlib runs everything on its own asyncore-style ``IOLoop``; trioftp runs
on Trio instead, so there is no loop object to drive by hand:

* ``FTPServer(...).serve_forever()`` calls :func:`trio.run` for you;
* a Trio program starts the server in a nursery with ``await
  trioftp.serve(...)`` (or ``await nursery.start(trioftp.serve, ...)``);
* what a pyftpdlib program did with ``ioloop.call_later(seconds, fn)`` a Trio
  program does with a task: ``nursery.start_soon(...)`` and
  :func:`trio.sleep`; blocking work goes through
  :func:`trio.to_thread.run_sync` (or, inside a session,
  :meth:`FTPHandler.run_blocking <trioftp.handlers.FTPHandler.run_blocking>`,
  which uses the session's runner: worker threads unless the server was
  given another runner).

:class:`IOLoop` exists so that code passing ``ioloop=IOLoop.instance()`` to
:class:`~trioftp.servers.FTPServer` or a handler keeps working; the object is
only carried along.
"""

from __future__ import annotations

import threading

__all__ = ["IOLoop"]


class IOLoop:
    """A placeholder for pyftpdlib's event loop; Trio is the real loop.

    ``IOLoop.instance()`` returns one shared object, as in pyftpdlib.
    """

    _instance: IOLoop | None = None
    _lock = threading.Lock()

    @classmethod
    def instance(cls) -> IOLoop:
        """Return the process-wide instance."""
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def close(self) -> None:
        """Forget the shared instance (nothing to release under Trio)."""
        with self._lock:
            if IOLoop._instance is self:
                IOLoop._instance = None
