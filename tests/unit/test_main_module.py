"""``trioftp.__main__.main``: pyftpdlib's ``main(args)`` for programs that call it."""

from __future__ import annotations

import argparse
import logging
import warnings
from pathlib import Path
from typing import Any

import pytest

import trioftp.__main__ as main_module
from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler, TLS_FTPHandler
from trioftp.servers import FTPServer, ThreadedFTPServer

from ..support.tls_fixtures import write_tls_files


class StopsAtOnce(FTPServer):
    """A server whose serve_forever returns at once (pyftpdlib's tests do the same)."""

    served: list[dict[str, Any]] = []

    def serve_forever(self, *args: Any, **kwargs: Any) -> None:
        StopsAtOnce.served.append(kwargs)
        self.close_all()


class ThreadedStopsAtOnce(ThreadedFTPServer):
    def serve_forever(self, *args: Any, **kwargs: Any) -> None:
        self.close_all()


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace the public server classes that ``main`` looks up as it runs."""
    monkeypatch.setattr(main_module.servers, "FTPServer", StopsAtOnce)
    monkeypatch.setattr(main_module.servers, "ThreadedFTPServer", ThreadedStopsAtOnce)
    StopsAtOnce.served.clear()


def run(*args: str) -> FTPServer:
    server = main_module.main(["-p", "0", "-i", "127.0.0.1", *args])
    assert server is not None
    return server


@pytest.mark.usefixtures("servers")
def test_returns_the_server_with_the_options_on_a_handler_subclass(tmp_path: Path) -> None:
    server = run("-d", str(tmp_path), "--timeout", "10", "--max-cons", "7", "-n", "127.0.0.1")
    assert isinstance(server, StopsAtOnce)
    assert StopsAtOnce.served == [{"worker_processes": 1}]
    handler = server.handler
    assert issubclass(handler, FTPHandler)
    assert handler is not FTPHandler
    assert (handler.timeout, handler.masquerade_address) == (10, "127.0.0.1")
    assert server.max_cons == 7
    assert handler.authorizer.get_home_dir("anonymous") == str(tmp_path)
    assert handler.authorizer.get_perms("anonymous") == "elr"
    assert FTPHandler.timeout == 300  # pyftpdlib's main changes FTPHandler itself


@pytest.mark.usefixtures("servers")
def test_concurrency_looks_the_class_up_when_it_runs(tmp_path: Path) -> None:
    server = run("-d", str(tmp_path), "--concurrency", "multi-thread")
    assert isinstance(server, ThreadedStopsAtOnce)


@pytest.mark.usefixtures("servers")
def test_pyftpdlib_errors_are_exceptions(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such directory: '/nonexistent'"):
        run("-d", "/nonexistent")
    with pytest.raises(argparse.ArgumentTypeError, match="password"):
        run("-d", str(tmp_path), "-u", "user")
    with pytest.raises(argparse.ArgumentTypeError, match="--tls requires --keyfile and --certfile"):
        run("-d", str(tmp_path), "--tls")
    with pytest.raises(SystemExit):
        run("-d", str(tmp_path), "-p", "not-a-port")
    assert StopsAtOnce.served == []


@pytest.mark.usefixtures("servers")
def test_write_for_anonymous_warns(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeWarning, match="anonymous"):
            run("-d", str(tmp_path), "-w")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = run("-d", str(tmp_path), "-w")
    perms = server.handler.authorizer.get_perms("anonymous")
    assert perms == DummyAuthorizer.read_perms + DummyAuthorizer.write_perms


@pytest.mark.usefixtures("servers")
def test_tls_with_certificate(tmp_path: Path) -> None:
    files = write_tls_files(tmp_path)
    cert, key = str(files.certfile), str(files.keyfile)
    server = run("-d", str(tmp_path), "--tls", "--certfile", cert, "--keyfile", key)
    assert issubclass(server.handler, TLS_FTPHandler)
    assert (server.handler.certfile, server.handler.keyfile) == (cert, key)
    assert server.handler.tls_control_required is False


@pytest.mark.usefixtures("servers")
def test_debug_calls_the_module_config_logging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    levels: list[int] = []

    def config_logging(level: int = logging.INFO) -> None:
        levels.append(level)

    monkeypatch.setattr(main_module, "config_logging", config_logging)
    run("-d", str(tmp_path))
    run("-d", str(tmp_path), "-D")
    assert levels == [logging.DEBUG]
