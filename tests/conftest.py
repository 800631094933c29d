"""Shared fixtures for every layer: a home directory, servers, a raw client, a session harness.

The helpers behind them live in ``tests/support/``.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

import trioftp
from trioftp.servers import FTPServer
from trioftp.session.runner import Runner

from .support.ftpclient import FTPClient
from .support.harness import SessionHarness
from .support.interop import require_binary
from .support.s3server import S3Endpoint, s3_server
from .support.servers import RunningServer, ThreadedServer, make_handler, serve_in_thread

#: Fixtures that live with their helpers: ``haproxy`` (a load balancer on loopback).
pytest_plugins = ("tests.support.haproxy",)


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Endpoint]:
    """moto's S3 server on loopback, for the whole test session (started on first use)."""
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty home directory for the test user."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def start_server(nursery: trio.Nursery, home: Path) -> Callable[..., Awaitable[RunningServer]]:
    """Start a Trio-native server in the test's nursery: ``await start_server(**attrs)``.

    Keyword arguments become handler class attributes; ``runner=InlineRunner()``
    runs the sessions' blocking calls inline (mock-clock tests), ``host="::1"``
    listens on IPv6.
    """

    async def start(
        host: str = "127.0.0.1", runner: Runner | None = None, **attributes: Any
    ) -> RunningServer:
        handler = make_handler(home, **attributes)
        bound_host, port = await nursery.start(
            functools.partial(trioftp.serve, handler, host, 0, runner=runner)
        )
        return RunningServer(bound_host, port, handler, home)

    return start


@pytest.fixture
def session_harness(nursery: trio.Nursery, home: Path) -> SessionHarness:
    """Start one session on memory streams: ``session = session_harness(base, **attrs)``.

    *base* (default ``FTPHandler``; ``TLS_FTPHandler`` for FTPS) runs its
    blocking calls inline (an ``InlineRunner``), so the session is
    deterministic on ``autojump_clock``; keyword arguments become handler
    class attributes; ``session.client`` is an ``FTPClient`` on the client's
    end (see ``tests/support/harness.py``).
    """
    return SessionHarness(nursery, home)


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
