"""The benchmark's FTP client: the same code drives every server.

:class:`Session` is a small blocking client for the one-client workloads
(throughput, login rate, latency); it reads data with ``recv_into`` into one
reused buffer so that the client costs as little as possible.
:class:`AsyncSession` is its Trio twin for the many-client workloads.
"""

from __future__ import annotations

import re
import socket
import ssl

import trio

__all__ = ["AsyncSession", "FTPError", "Session"]

_EPSV = re.compile(rb"\(\|\|\|(\d+)\|\)")
_BUFFER = 4 << 20


class FTPError(Exception):
    """An unexpected reply."""


def _check(reply: bytes, *codes: bytes) -> bytes:
    if reply[:3] not in codes:
        raise FTPError(reply.decode(errors="replace").strip())
    return reply


class Session:
    """One blocking control connection, logged in as bench/bench."""

    def __init__(
        self, port: int, *, tls: ssl.SSLContext | None = None, timeout: float = 60
    ) -> None:
        self.port = port
        self.tls = tls
        self.sock: socket.socket = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._file = self.sock.makefile("rb")
        _check(self.reply(), b"220")
        if tls is not None:
            _check(self.command("AUTH TLS"), b"234")
            self.sock = tls.wrap_socket(self.sock, server_hostname="127.0.0.1")
            self._file = self.sock.makefile("rb")
            _check(self.command("PBSZ 0"), b"200")
        _check(self.command("USER bench"), b"331")
        _check(self.command("PASS bench"), b"230")
        if tls is not None:
            _check(self.command("PROT P"), b"200")
        _check(self.command("TYPE I"), b"200")

    def reply(self) -> bytes:
        line = self._file.readline()
        if line[3:4] == b"-":
            end = line[:3] + b" "
            while not (line := self._file.readline()).startswith(end):
                if not line:
                    break
        if not line:
            raise FTPError("connection closed")
        return line

    def command(self, line: str) -> bytes:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def data(self) -> socket.socket:
        reply = _check(self.command("EPSV"), b"229")
        port = int(_EPSV.search(reply).group(1))  # type: ignore[union-attr]
        conn = socket.create_connection(("127.0.0.1", port))
        return conn

    def _secure(self, conn: socket.socket) -> socket.socket:
        if self.tls is None:
            return conn
        session = self.sock.session  # type: ignore[attr-defined]
        return self.tls.wrap_socket(conn, server_hostname="127.0.0.1", session=session)

    def retr(self, name: str) -> int:
        """Download *name*; return the byte count."""
        conn = self.data()
        _check(self.command(f"RETR {name}"), b"125", b"150")
        conn = self._secure(conn)
        buffer = bytearray(_BUFFER)
        total = 0
        while received := conn.recv_into(buffer):
            total += received
        conn.close()
        _check(self.reply(), b"226")
        return total

    def stor(self, name: str, size: int) -> None:
        """Upload *size* bytes (a repeated pattern) as *name*."""
        pattern = memoryview(bytes(range(256)) * (_BUFFER // 256))
        conn = self.data()
        _check(self.command(f"STOR {name}"), b"125", b"150")
        conn = self._secure(conn)
        left = size
        while left > 0:
            piece = pattern[: min(left, len(pattern))]
            conn.sendall(piece)
            left -= len(piece)
        if self.tls is not None:
            conn = conn.unwrap()  # type: ignore[attr-defined]
        conn.close()
        _check(self.reply(), b"226")

    def listing(self, command: str, path: str) -> int:
        """LIST/MLSD *path*; return the byte count."""
        conn = self.data()
        _check(self.command(f"{command} {path}"), b"125", b"150")
        conn = self._secure(conn)
        total = 0
        buffer = bytearray(1 << 20)
        while received := conn.recv_into(buffer):
            total += received
        conn.close()
        _check(self.reply(), b"226")
        return total

    def quit(self) -> None:
        try:
            self.command("QUIT")
        finally:
            self.sock.close()


class AsyncSession:
    """One Trio control connection, for workloads with many clients at once."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self._buffer = b""

    @classmethod
    async def login(cls, port: int) -> AsyncSession:
        session = cls(await trio.open_tcp_stream("127.0.0.1", port))
        _check(await session.reply(), b"220")
        _check(await session.command("USER bench"), b"331")
        _check(await session.command("PASS bench"), b"230")
        _check(await session.command("TYPE I"), b"200")
        return session

    async def reply(self) -> bytes:
        while True:
            end = self._buffer.find(b"\r\n")
            if end >= 0:
                line, self._buffer = self._buffer[: end + 2], self._buffer[end + 2 :]
                if line[3:4] != b"-":
                    return line
                continue
            data = await self.stream.receive_some(65536)
            if not data:
                raise FTPError("connection closed")
            self._buffer += data

    async def command(self, line: str) -> bytes:
        await self.stream.send_all(line.encode() + b"\r\n")
        return await self.reply()

    async def download(self, command: str) -> int:
        reply = _check(await self.command("EPSV"), b"229")
        port = int(_EPSV.search(reply).group(1))  # type: ignore[union-attr]
        data = await trio.open_tcp_stream("127.0.0.1", port)
        _check(await self.command(command), b"125", b"150")
        total = 0
        async with data:
            while chunk := await data.receive_some(1 << 20):
                total += len(chunk)
        _check(await self.reply(), b"226")
        return total

    async def quit(self) -> None:
        try:
            await self.command("QUIT")
        finally:
            await self.stream.aclose()
