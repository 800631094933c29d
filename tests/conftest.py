"""Shared fixtures: a home directory, servers (Trio-native and threaded), a raw client."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest
import trio

import trioftp
from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler
from trioftp.servers import FTPServer

from .ftpclient import FTPClient
from .interop import require_binary

T = TypeVar("T")

USER, PASSWORD = "user", "pass"


class InlineFTPHandler(FTPHandler):
    """Runs blocking calls inline: no threads, so Trio's MockClock stays deterministic."""

    async def run_blocking(self, function: Callable[..., T], *args: Any) -> T:
        await trio.lowlevel.checkpoint()
        if self.authenticated:
            return self.run_as_current_user(function, *args)
        return function(*args)


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


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty home directory for the test user."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def start_server(nursery: trio.Nursery, home: Path) -> Callable[..., Awaitable[RunningServer]]:
    """Start a Trio-native server in the test's nursery: ``await start_server(**attrs)``.

    Keyword arguments become handler class attributes (``base=InlineFTPHandler``
    for mock-clock tests, ``host="::1"`` to listen on IPv6).
    """

    async def start(host: str = "127.0.0.1", **attributes: Any) -> RunningServer:
        handler = make_handler(home, **attributes)
        bound_host, port = await nursery.start(trioftp.serve, handler, host, 0)
        return RunningServer(bound_host, port, handler, home)

    return start


@pytest.fixture
async def server(start_server: Callable[..., Awaitable[RunningServer]]) -> RunningServer:
    """A server with default settings."""
    return await start_server()


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[FTPClient]:
    """A client logged in as user/pass (full permissions) on ``server``."""
    connection = await server.client()
    yield connection
    await connection.aclose()


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


@pytest.fixture
def threaded_server(home: Path) -> Iterator[ThreadedServer]:
    """A server running ``serve_forever()`` in a thread, for ftplib/curl/lftp tests."""
    with serve_in_thread(FTPServer(("127.0.0.1", 0), make_handler(home)), home) as running:
        yield running


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty local directory for a client command to run in."""
    path = tmp_path / "client"
    path.mkdir()
    return path


# --- client commands for the interop tests (they fail, saying how to install them, without)


@pytest.fixture(scope="session")
def curl_binary() -> str:
    """The path of the ``curl`` command."""
    return require_binary("curl")


@pytest.fixture(scope="session")
def lftp_binary() -> str:
    """The path of the ``lftp`` command."""
    return require_binary("lftp")
