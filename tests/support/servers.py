"""Test servers: the credentials, handler classes on a home directory, running servers."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler
from trioftp.servers import FTPServer

from .ftpclient import FTPClient

USER, PASSWORD = "user", "pass"


def make_handler(
    home: Path, *, base: type[FTPHandler] = FTPHandler, perm: str = "elradfmwMT", **attributes: Any
) -> type[FTPHandler]:
    """A handler class with user/pass (perm) and anonymous (read-only) on *home*."""
    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, str(home), perm=perm)
    authorizer.add_anonymous(str(home))
    attributes.setdefault("authorizer", authorizer)
    attributes.setdefault("auth_failed_timeout", 0)
    return type("TestHandler", (base,), attributes)


@attrs.define
class RunningServer:
    host: str
    port: int
    handler: type[FTPHandler]
    home: Path

    async def client(self, *, login: bool = True) -> FTPClient:
        """Connect (and log in as user/pass unless *login* is False)."""
        client, greeting = await FTPClient.connect(self.host, self.port)
        assert greeting.code == 220, greeting
        if login:
            reply = await client.login(USER, PASSWORD)
            assert reply.code == 230, reply
        return client


@attrs.define
class ThreadedServer:
    server: FTPServer
    home: Path

    @property
    def host(self) -> str:
        return self.server.address[0]

    @property
    def port(self) -> int:
        return self.server.address[1]


@contextlib.contextmanager
def serve_in_thread(server: FTPServer, home: Path) -> Iterator[ThreadedServer]:
    """Run *server* with ``serve_forever()`` in a thread; close it afterwards."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"handle_exit": False})
    thread.start()
    try:
        yield ThreadedServer(server, home)
    finally:
        server.close_all()
        thread.join(10)
        assert not thread.is_alive()
