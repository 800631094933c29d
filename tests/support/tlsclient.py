"""FTPS helpers for tests: trustme certificates, a TLS-capable raw client, data connections.

:class:`TLSClient` is :class:`~tests.support.ftpclient.FTPClient` whose control stream
can be switched to TLS (``AUTH TLS``, implicit FTPS) and back (``CCC``). Its
data-connection helpers open the connection in any mode, read the
preliminary reply *before* the TLS handshake (as RFC 4217 clients do), and can
resume the control connection's TLS session on the data connection.
"""

from __future__ import annotations

import socket
import ssl
import struct
from pathlib import Path

import attrs
import trio
import trustme

from .ftpclient import Connector, FTPClient, Reply, active_ipv4, read_all

__all__ = [
    "Certs",
    "TLSClient",
    "Tap",
    "client_context",
    "make_certs",
    "reset_connection",
]


@attrs.frozen
class Certs:
    """A trustme CA and a server certificate for 127.0.0.1 and localhost, as files."""

    ca: trustme.CA
    certfile: str  # the certificate chain (PEM)
    keyfile: str  # the private key (PEM)
    combined: str  # key and chain in one PEM file (pyftpdlib's usual certfile)


def make_certs(directory: Path) -> Certs:
    """Issue a server certificate for ``127.0.0.1`` and ``localhost`` under *directory*."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    directory.mkdir(parents=True, exist_ok=True)
    certfile, keyfile, combined = (
        directory / "cert.pem",
        directory / "key.pem",
        directory / "combined.pem",
    )
    certfile.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    keyfile.write_bytes(server.private_key_pem.bytes())
    combined.write_bytes(certfile.read_bytes() + keyfile.read_bytes())
    return Certs(ca, str(certfile), str(keyfile), str(combined))


def client_context(
    ca: trustme.CA,
    *,
    minimum_version: ssl.TLSVersion | None = None,
    maximum_version: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    """A client context trusting *ca*, optionally pinned to some TLS versions."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    # A peer that drops the connection without close_notify is an error, as on
    # Python 3.11.3+ (3.11.0-3.11.2 set this option by default).
    context.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    if minimum_version is not None:
        context.minimum_version = minimum_version
    if maximum_version is not None:
        context.maximum_version = maximum_version
    return context


class Tap(trio.abc.Stream):
    """A stream that records every byte passing through it (the wire under TLS)."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.sent = bytearray()
        self.received = bytearray()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.sent += data
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self.inner.receive_some(max_bytes)
        self.received += data
        return data

    async def aclose(self) -> None:
        await self.inner.aclose()


def reset_connection(stream: trio.SocketStream) -> None:
    """Close *stream*'s socket with SO_LINGER 0: the peer gets a TCP RST, not a FIN."""
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    stream.socket.close()


class TLSClient(FTPClient):
    """A raw FTP client whose control connection can run over TLS."""

    def __init__(
        self,
        transport: trio.SocketStream,
        context: ssl.SSLContext,
        server_hostname: str | None = "127.0.0.1",
    ) -> None:
        super().__init__(transport)
        self.stream: trio.abc.Stream = transport  # type: ignore[assignment]
        self.transport = transport
        self.context = context
        self.server_hostname = server_hostname
        #: The control connection's TLS stream (kept after CCC, for its session).
        self.control_tls: trio.SSLStream[trio.abc.Stream] | None = None

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        context: ssl.SSLContext,
        *,
        implicit: bool = False,
        server_hostname: str | None = "127.0.0.1",
    ) -> tuple[TLSClient, Reply]:
        """Connect (with TLS first if *implicit*) and read the greeting."""
        transport = await trio.open_tcp_stream(host, port)
        client = cls(transport, context, server_hostname)
        if implicit:
            await client.start_tls()
        return client, await client.reply()

    # --- the control connection

    async def start_tls(self) -> None:
        """Put TLS on the control connection (after ``234``, or at once for implicit)."""
        assert not self._buffer, "bytes after the 234 reply"
        tls = trio.SSLStream(
            self.stream, self.context, server_hostname=self.server_hostname, https_compatible=False
        )
        await tls.do_handshake()
        self.stream = self.control_tls = tls

    async def auth(self, mechanism: str = "TLS") -> Reply:
        """``AUTH <mechanism>``, then the handshake; returns the ``234`` reply."""
        reply = await self.cmd(f"AUTH {mechanism}")
        assert reply.first == f"234 AUTH {mechanism} successful.", reply
        await self.start_tls()
        return reply

    async def secure(self, level: str = "P", *, login: bool = True) -> None:
        """AUTH TLS, PBSZ 0, PROT *level*, and log in (unless *login* is False)."""
        await self.auth()
        assert (await self.cmd("PBSZ 0")).first == "200 PBSZ=0"
        assert (await self.cmd(f"PROT {level}")).code == 200
        if login:
            assert (await self.login()).code == 230

    async def ccc(self) -> Reply:
        """``CCC``, then the exchange of close_notify alerts: back to clear text."""
        reply = await self.cmd("CCC")
        assert reply.first == "200 Clear Command Channel OK.", reply
        assert isinstance(self.stream, trio.SSLStream)
        transport, trailing = await self.stream.unwrap()
        self.stream = transport
        self._buffer += trailing
        return reply

    @property
    def session(self) -> ssl.SSLSession:
        """The control connection's TLS session (what a data connection resumes)."""
        assert self.control_tls is not None
        session = self.control_tls.session
        assert session is not None
        return session

    # --- data connections

    async def data_connection(self, mode: str = "PASV") -> Connector:
        """Prepare a data connection in *mode* (PASV, EPSV, PORT, EPRT).

        The result, called after the preliminary reply, gives the connected
        TCP stream.
        """
        if mode in ("PASV", "EPSV"):
            if mode == "PASV":
                stream = await self.pasv()
            else:
                reply = await self.cmd("EPSV")
                assert reply.code == 229, reply
                port = int(reply.text.split("|||")[1].split("|")[0])
                stream = await trio.open_tcp_stream("127.0.0.1", port)

            async def connected() -> trio.SocketStream:
                return stream

            return connected
        return await active_ipv4(self, mode)

    async def wrap_data(
        self,
        raw: trio.abc.Stream,
        *,
        resume: bool = False,
        session: ssl.SSLSession | None = None,
        context: ssl.SSLContext | None = None,
    ) -> trio.SSLStream[trio.abc.Stream]:
        """TLS on a data connection, resuming the control session if *resume*."""
        tls = trio.SSLStream(
            raw,
            context or self.context,
            server_hostname=self.server_hostname,
            https_compatible=False,
        )
        if resume or session is not None:
            tls.session = session or self.session
        await tls.do_handshake()
        return tls

    async def _transfer(
        self, command: str, mode: str, protect: bool, resume: bool, tap: list[Tap] | None
    ) -> tuple[Reply, trio.abc.Stream | None]:
        """Send *command* with a data connection in *mode*: its preliminary reply and data stream.

        The stream gets TLS if *protect*; its wire is recorded in a :class:`Tap`
        appended to *tap*. A refused command gives None (the connection is closed).
        """
        connect = await self.data_connection(mode)
        preliminary = await self.cmd(command)
        if preliminary.code >= 400:
            await (await connect()).aclose()
            return preliminary, None
        assert preliminary.code in (125, 150), preliminary
        raw: trio.abc.Stream = await connect()
        if tap is not None:
            raw = Tap(raw)
            tap.append(raw)
        stream = await self.wrap_data(raw, resume=resume) if protect else raw
        return preliminary, stream

    async def download(
        self,
        command: str,
        *,
        mode: str = "PASV",
        protect: bool = True,
        resume: bool = False,
        tap: list[Tap] | None = None,
    ) -> tuple[Reply, bytes, Reply]:
        """Run a download command; return the preliminary reply, the bytes, the final reply.

        The data connection gets TLS if *protect*; its wire is recorded in a
        :class:`Tap` appended to *tap*.
        """
        preliminary, stream = await self._transfer(command, mode, protect, resume, tap)
        if stream is None:
            return preliminary, b"", preliminary
        return preliminary, await read_all(stream), await self.reply()

    async def upload(
        self,
        command: str,
        data: bytes,
        *,
        mode: str = "PASV",
        protect: bool = True,
        resume: bool = False,
        tap: list[Tap] | None = None,
    ) -> tuple[Reply, Reply]:
        """Run an upload command sending *data*; return the preliminary and final replies."""
        preliminary, stream = await self._transfer(command, mode, protect, resume, tap)
        if stream is None:
            return preliminary, preliminary
        await stream.send_all(data)
        await stream.aclose()
        return preliminary, await self.reply()
