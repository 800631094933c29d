"""One passive listener per session at most: a new PASV/EPSV closes the one before."""

from __future__ import annotations

import os
import re
import socket
import stat
from collections.abc import Awaitable, Callable

import trio

from ..support.ftpclient import read_all
from ..support.servers import RunningServer

StartServer = Callable[..., Awaitable[RunningServer]]


def listening_ports() -> set[int]:
    """The TCP ports this process's sockets listen on (its descriptors in /proc)."""
    ports = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            fd = os.dup(int(name))
        except OSError:  # the listing's own descriptor, already closed
            continue
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            sock = socket.socket(fileno=fd)
            fd = -1  # the socket object owns the duplicate now
            with sock:
                if sock.type == socket.SOCK_STREAM and sock.getsockopt(
                    socket.SOL_SOCKET, socket.SO_ACCEPTCONN
                ):
                    ports.add(sock.getsockname()[1])
        finally:
            if fd >= 0:
                os.close(fd)
    return ports


def passive_port(reply_text: str) -> int:
    if found := re.search(r"\|\|\|(\d+)\|", reply_text):
        return int(found.group(1))
    numbers = re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", reply_text)
    assert numbers is not None, reply_text
    return int(numbers.group(5)) * 256 + int(numbers.group(6))


async def test_a_hundred_pasv_hold_one_listener(start_server: StartServer) -> None:
    server = await start_server()
    (server.home / "f.txt").write_bytes(b"other session's file")
    other = await server.client()
    assert (await other.cmd("TYPE I")).code == 200
    other_reply = await other.cmd("EPSV")
    other_port = passive_port(other_reply.text)
    before = listening_ports() - {other_port}
    assert server.port in before

    client = await server.client()
    ports = []
    for index in range(100):
        reply = await client.cmd("EPSV" if index % 3 == 2 else "PASV")
        assert reply.code in (227, 229), reply
        ports.append(passive_port(reply.text))
        # Only the newest listener of this session is open, and the other
        # session's is untouched.
        assert listening_ports() == before | {ports[-1], other_port}
    # The ports given up refuse connections.
    for old in {*ports[-5:-1]} - {ports[-1], other_port}:
        try:
            stream = await trio.open_tcp_stream("127.0.0.1", old)
        except OSError:
            continue
        await stream.aclose()
        raise AssertionError(f"port {old} still accepts")

    # The other session's data connection still works.
    data_stream = await trio.open_tcp_stream("127.0.0.1", other_port)
    assert (await other.cmd("RETR f.txt")).code in (125, 150)
    assert await read_all(data_stream) == b"other session's file"
    assert (await other.reply()).first == "226 Transfer complete."
    # And so does the last PASV of the first.
    data_stream = await trio.open_tcp_stream("127.0.0.1", ports[-1])
    assert (await client.cmd("NLST")).code in (125, 150)
    assert await read_all(data_stream) == b"f.txt\r\n"
    assert (await client.reply()).first == "226 Transfer complete."
    assert listening_ports() == before
    await client.aclose()
    await other.aclose()
