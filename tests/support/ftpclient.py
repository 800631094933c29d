"""A small Trio FTP client for tests: raw commands, exact replies, data connections."""

from __future__ import annotations

import re
import socket
from collections.abc import Awaitable, Callable

import attrs
import trio

_PASV = re.compile(r"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)")
_EPSV = re.compile(r"\(\|\|\|(\d+)\|\)")

#: A function giving a data connection once the transfer command has its preliminary reply.
Connector = Callable[[], Awaitable[trio.SocketStream]]


@attrs.frozen
class Reply:
    """One FTP reply: its code and every line as received (without CRLF)."""

    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """The text after the code on the last line."""
        return self.lines[-1][4:]

    @property
    def first(self) -> str:
        """The whole first line."""
        return self.lines[0]

    def __str__(self) -> str:
        return "\n".join(self.lines)


class FTPClient:
    """A raw FTP control connection."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self._buffer = bytearray()

    @classmethod
    async def connect(cls, host: str, port: int) -> tuple[FTPClient, Reply]:
        """Connect and read the greeting."""
        stream = await trio.open_tcp_stream(host, port)
        client = cls(stream)
        return client, await client.reply()

    async def send(self, line: str | bytes) -> None:
        """Send one command line (CRLF added)."""
        data = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line
        await self.stream.send_all(data + b"\r\n")

    async def send_raw(self, data: bytes) -> None:
        """Send bytes exactly as given."""
        await self.stream.send_all(data)

    async def read_line(self) -> str | None:
        """Read one reply line (None at EOF)."""
        while b"\r\n" not in self._buffer:
            data = await self.stream.receive_some(65536)
            if not data:
                return None
            self._buffer += data
        line, _, rest = bytes(self._buffer).partition(b"\r\n")
        self._buffer = bytearray(rest)
        return line.decode("utf-8", "surrogateescape")

    async def reply(self) -> Reply:
        """Read one complete (maybe multi-line) reply."""
        first = await self.read_line()
        if first is None:
            raise EOFError("connection closed before a reply")
        lines = [first]
        if first[3:4] == "-":
            end = first[:3] + " "
            while True:
                line = await self.read_line()
                if line is None:
                    raise EOFError("connection closed inside a multi-line reply")
                lines.append(line)
                if line.startswith(end):
                    break
        return Reply(int(first[:3]), tuple(lines))

    async def cmd(self, line: str | bytes) -> Reply:
        """Send a command and read its reply."""
        await self.send(line)
        return await self.reply()

    async def at_eof(self) -> bool:
        """True if the server closed the connection (no more bytes)."""
        if self._buffer:
            return False
        return await self.stream.receive_some(1) == b""

    async def login(self, user: str = "user", password: str = "pass") -> Reply:
        """USER + PASS; returns the PASS reply."""
        reply = await self.cmd(f"USER {user}")
        assert reply.code == 331, reply
        return await self.cmd(f"PASS {password}")

    async def pasv(self) -> trio.SocketStream:
        """PASV, then connect to the announced port."""
        reply = await self.cmd("PASV")
        assert reply.code == 227, reply
        h1, h2, h3, h4, p1, p2 = (int(x) for x in _PASV.search(reply.text).groups())  # type: ignore[union-attr]
        return await trio.open_tcp_stream(f"{h1}.{h2}.{h3}.{h4}", p1 * 256 + p2)

    async def epsv(self) -> trio.SocketStream:
        """EPSV, then connect to the announced port on the control connection's host."""
        reply = await self.cmd("EPSV")
        assert reply.code == 229, reply
        port = int(_EPSV.search(reply.text).group(1))  # type: ignore[union-attr]
        host = self.stream.socket.getpeername()[0]
        return await trio.open_tcp_stream(host, port)

    async def port(self) -> Connector:
        """Listen, send PORT/EPRT for it; return a function that accepts the connection."""
        family = self.stream.socket.family
        listener = trio.socket.socket(family, socket.SOCK_STREAM)
        host = self.stream.socket.getsockname()[0]
        await listener.bind((host, 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        if family == socket.AF_INET:
            reply = await self.cmd(f"PORT {host.replace('.', ',')},{port >> 8},{port & 255}")
        else:
            reply = await self.cmd(f"EPRT |2|{host}|{port}|")
        assert reply.code == 200, reply
        return accept_once(listener)

    async def retr(self, path: str, *, command: str = "RETR") -> tuple[bytes, Reply]:
        """Download over PASV; return the bytes and the final reply."""
        data_stream = await self.pasv()
        preliminary = await self.cmd(f"{command} {path}".rstrip())
        if preliminary.code >= 400:
            await data_stream.aclose()
            return b"", preliminary
        assert preliminary.code in (125, 150), preliminary
        data = await read_all(data_stream)
        return data, await self.reply()

    async def stor(self, path: str, data: bytes, *, command: str = "STOR") -> Reply:
        """Upload over PASV; return the final reply."""
        data_stream = await self.pasv()
        preliminary = await self.cmd(f"{command} {path}".rstrip())
        if preliminary.code >= 400:
            await data_stream.aclose()
            return preliminary
        assert preliminary.code in (125, 150), preliminary
        await data_stream.send_all(data)
        await data_stream.aclose()
        return await self.reply()

    async def listing(self, command: str = "LIST", path: str = "") -> tuple[str, Reply]:
        """LIST/NLST/MLSD over PASV; return the decoded listing and the final reply."""
        data, reply = await self.retr(path, command=command)
        return data.decode("utf-8", "surrogateescape"), reply

    async def aclose(self) -> None:
        await self.stream.aclose()


async def read_all(stream: trio.abc.ReceiveStream) -> bytes:
    """Read a data connection to EOF and close it."""
    chunks = []
    async with stream:
        while data := await stream.receive_some(1 << 20):
            chunks.append(data)
    return b"".join(chunks)


def accept_once(listener: trio.socket.SocketType) -> Connector:
    """A function that accepts one connection on *listener* (within 10 s), then closes it."""

    async def accept() -> trio.SocketStream:
        try:
            with trio.fail_after(10):
                sock, _ = await listener.accept()
            return trio.SocketStream(sock)
        finally:
            listener.close()

    return accept


async def active_ipv4(client: FTPClient, mode: str) -> Connector:
    """Listen on 127.0.0.1 and send PORT or EPRT |1| for it; return the accept function."""
    listener = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    await listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    if mode == "PORT":
        reply = await client.cmd(f"PORT 127,0,0,1,{port >> 8},{port & 255}")
    else:
        reply = await client.cmd(f"EPRT |1|127.0.0.1|{port}|")
    assert reply.first == "200 Active data connection established.", reply
    return accept_once(listener)


async def transmitted(client: FTPClient) -> int:
    """STAT during a transfer: the bytes moved so far (-1 if no transfer shows)."""
    reply = await client.cmd("STAT")
    assert reply.code == 211, reply
    found = re.search(r"transfer in progress: (\d+) bytes transmitted", str(reply))
    return int(found.group(1)) if found else -1


async def wait_transmitted(client: FTPClient, at_least: int) -> int:
    """Ask STAT until the running transfer has moved *at_least* bytes; return how many it has."""
    with trio.fail_after(10):
        while (moved := await transmitted(client)) < at_least:
            pass
    return moved
