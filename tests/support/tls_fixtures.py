"""Helpers for the FTPS tests: trustme certificates on disk and TLS servers in threads.

The CAs and the server certificate are made once per test run (key generation
is the slow part) and written into each test's own directory.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import attrs
import trio
import trustme

from trioftp.handlers import TLS_FTPHandler
from trioftp.servers import FTPServer
from trioftp.session.tls import TLSProtection

from .servers import ThreadedServer, make_handler, serve_in_thread


@attrs.frozen
class TLSFiles:
    """PEM files in a test's directory."""

    ca: Path  #: the CA that issued the server certificate
    certfile: Path  #: the server certificate chain (127.0.0.1 and localhost)
    keyfile: Path  #: its private key
    other_ca: Path  #: a CA that issued nothing the server presents


@functools.cache
def _authorities() -> tuple[trustme.CA, trustme.LeafCert, trustme.CA]:
    ca = trustme.CA()
    return ca, ca.issue_cert("127.0.0.1", "localhost"), trustme.CA()


def write_tls_files(directory: Path) -> TLSFiles:
    """Write the CA, the server certificate and key, and another CA under *directory*."""
    ca, leaf, other = _authorities()
    directory.mkdir(parents=True, exist_ok=True)
    files = TLSFiles(
        ca=directory / "ca.pem",
        certfile=directory / "server-cert.pem",
        keyfile=directory / "server-key.pem",
        other_ca=directory / "other-ca.pem",
    )
    ca.cert_pem.write_to_path(str(files.ca))
    other.cert_pem.write_to_path(str(files.other_ca))
    leaf.private_key_pem.write_to_path(str(files.keyfile))
    files.certfile.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
    return files


def client_context(files: TLSFiles) -> ssl.SSLContext:
    """A verifying client context that trusts the test CA."""
    context = ssl.create_default_context(cafile=str(files.ca))
    # A peer that drops the connection without close_notify is an error, as on
    # Python 3.11.3+ (3.11.0-3.11.2 set this option by default).
    context.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    return context


@attrs.define
class DataConnection:
    """What the server saw of one protected data connection."""

    version: str
    reused: bool


class RecordingProtection(TLSProtection):
    """The FTPS policy, recording each protected data connection it makes.

    Each handler class gets a subclass with its own ``connections`` list
    (see :func:`tls_handler`).
    """

    connections: ClassVar[list[DataConnection]] = []

    async def protect_data(self, stream: trio.abc.Stream) -> trio.abc.Stream:
        secured = await super().protect_data(stream)
        if secured is not stream:
            tls: Any = secured
            self.connections.append(DataConnection(tls.version(), bool(tls.session_reused)))
        return secured


class RecordingTLSHandler(TLS_FTPHandler):
    """A ``TLS_FTPHandler`` whose ``connections`` lists its protected data connections."""

    connections: ClassVar[list[DataConnection]] = []


def tls_handler(home: Path, files: TLSFiles, **attributes: Any) -> type[RecordingTLSHandler]:
    """A recording TLS handler class for *home* with the test certificate."""
    attributes.setdefault("certfile", str(files.certfile))
    attributes.setdefault("keyfile", str(files.keyfile))
    connections: list[DataConnection] = []
    attributes.setdefault("connections", connections)
    attributes.setdefault(
        "protection",
        type("Recording", (RecordingProtection,), {"connections": attributes["connections"]}),
    )
    handler = make_handler(home, base=RecordingTLSHandler, **attributes)
    assert issubclass(handler, RecordingTLSHandler)
    return handler


@attrs.define
class TLSServer:
    """A TLS server in a thread, its handler class and the test's PEM files."""

    running: ThreadedServer
    handler: type[RecordingTLSHandler]
    files: TLSFiles

    @property
    def host(self) -> str:
        return self.running.host

    @property
    def port(self) -> int:
        return self.running.port

    @property
    def home(self) -> Path:
        return self.running.home


@contextlib.contextmanager
def tls_servers(home: Path, files: TLSFiles) -> Iterator[Any]:
    """Yield ``start(**attributes) -> TLSServer``; every server started is closed at the end."""
    with contextlib.ExitStack() as stack:

        def start(**attributes: Any) -> TLSServer:
            handler = tls_handler(home, files, **attributes)
            server = FTPServer(("127.0.0.1", 0), handler)
            running = stack.enter_context(serve_in_thread(server, home))
            return TLSServer(running, handler, files)

        yield start
