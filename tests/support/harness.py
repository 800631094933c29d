"""A socket-free session harness: one handler session over memory streams.

:class:`SessionHarness` (the ``session_harness`` fixture in ``tests/conftest.py``)
starts one session of any handler class (``FTPHandler``, ``TLS_FTPHandler``
or a subclass, with keyword class attributes) in the test's nursery, on
:func:`trio.testing.memory_stream_pair`, and gives the test the client's end.
Active data connections (PORT/EPRT) are memory streams too: the test receives
their client ends from :attr:`MemorySession.data_peers`.

No thread and no socket is involved, so with ``autojump_clock`` Trio's
MockClock only moves when every task really waits: timeouts take exactly
their configured number of mock seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import trio
import trio.testing

from trioftp.handlers import FTPHandler
from trioftp.session.runner import InlineRunner, Runner

from .ftpclient import FTPClient
from .servers import make_handler

#: The addresses a memory-stream session reports (there is no socket to ask).
LOCAL_ADDRESS = ("127.0.0.1", 21)
REMOTE_ADDRESS = ("127.0.0.1", 5000)


class MemoryConnector:
    """Active data connections (PORT/EPRT) made of memory streams.

    The server's end is used for the transfer (with TLS on it if the handler
    adds it); the client's end is sent on *peers*.
    """

    def __init__(self, peers: trio.MemorySendChannel[trio.abc.Stream]) -> None:
        self.peers = peers

    async def connect(self, local_ip: str, ip: str, port: int) -> trio.abc.Stream:
        server_end, client_end = trio.testing.memory_stream_pair()
        self.peers.send_nowait(client_end)
        return server_end


@attrs.define
class MemorySession:
    """One handler session over memory streams, and the test's ends of it."""

    stream: trio.abc.Stream  #: the client's end of the control connection, as it was made
    client: FTPClient  #: an FTP client on :attr:`stream` (its ``stream`` may become TLS)
    handler: FTPHandler  #: the session's handler instance
    ended: trio.Event  #: set once ``handle_session()`` has returned
    data_peers: trio.MemoryReceiveChannel[trio.abc.Stream]  #: client ends of data connections
    home: Path  #: the home directory of user/pass and of anonymous


@attrs.define
class SessionHarness:
    """``harness(base=FTPHandler, **attributes)``: start one session on memory streams.

    The handler class is *base* with memory-stream active data connections
    (:class:`MemoryConnector`), user/pass and anonymous on :attr:`home`
    (:func:`~tests.support.servers.make_handler`: ``perm=`` applies to
    user/pass) and *attributes* as class attributes; blocking calls run in
    *runner* (inline unless given, e.g. a ``ThreadRunner`` for work that
    must really run beside the event loop). The session runs in
    :attr:`nursery` until it ends or the test does; nothing has been read yet
    (the greeting is the client's first reply).
    """

    nursery: trio.Nursery
    home: Path
    data_buffer: int = 10  #: how many data connections may wait for the test to take them

    def __call__(
        self,
        base: type[FTPHandler] = FTPHandler,
        *,
        runner: Runner | None = None,
        **attributes: Any,
    ) -> MemorySession:
        send, receive = trio.open_memory_channel[trio.abc.Stream](self.data_buffer)
        attributes.setdefault("data_connector", MemoryConnector(send))
        handler_class = make_handler(self.home, base=base, **attributes)
        client_end, server_end = trio.testing.memory_stream_pair()
        handler = handler_class(
            server_end,
            None,
            local_address=LOCAL_ADDRESS,
            remote_address=REMOTE_ADDRESS,
            runner=runner if runner is not None else InlineRunner(),
        )
        ended = trio.Event()

        async def run() -> None:
            try:
                await handler.handle_session()
            finally:
                ended.set()

        self.nursery.start_soon(run)
        client = FTPClient(client_end)  # type: ignore[arg-type]
        return MemorySession(client_end, client, handler, ended, receive, self.home)
