"""Data connections: PASV, EPSV, PORT, EPRT, foreign hosts, IPv6, STAT during a transfer."""

from __future__ import annotations

import re
import socket
from collections.abc import Awaitable, Callable

import pytest
import trio

from ..support.ftpclient import FTPClient, read_all
from ..support.servers import RunningServer

StartServer = Callable[..., Awaitable[RunningServer]]

PASV_REPLY = re.compile(r"227 Entering Passive Mode \((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)\.")
EPSV_REPLY = re.compile(r"229 Entering extended passive mode \(\|\|\|(\d+)\|\)\.")
DONE = "226 Transfer complete."


def pasv_address(line: str) -> tuple[str, int]:
    match = PASV_REPLY.fullmatch(line)
    assert match, line
    h1, h2, h3, h4, p1, p2 = (int(x) for x in match.groups())
    assert all(0 <= x <= 255 for x in (h1, h2, h3, h4, p1, p2))
    return f"{h1}.{h2}.{h3}.{h4}", p1 * 256 + p2


def epsv_port(line: str) -> int:
    match = EPSV_REPLY.fullmatch(line)
    assert match, line
    return int(match.group(1))


async def connect_from(source: str, host: str, port: int) -> trio.SocketStream:
    """Connect to host:port from the local address *source*."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = trio.socket.socket(family, socket.SOCK_STREAM)
    try:
        await sock.bind((source, 0))
        await sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return trio.SocketStream(sock)


async def assert_refused(host: str, port: int) -> None:
    """Nothing listens on host:port any more."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with trio.socket.socket(family) as sock, pytest.raises(ConnectionRefusedError):
        await sock.connect((host, port))


def free_ports(count: int) -> list[int]:
    """Ports the kernel just handed out (and that are free again)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


class Listener:
    """A plain non-blocking listening socket, to check that nobody connected."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(5)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def assert_no_connection(self) -> None:
        with pytest.raises(BlockingIOError):
            self.sock.accept()

    def close(self) -> None:
        self.sock.close()


# --- PASV


async def test_pasv_reply_format_and_transfer(server: RunningServer, client: FTPClient) -> None:
    (server.home / "a.txt").write_bytes(b"passive")
    reply = await client.cmd("PASV")
    host, port = pasv_address(reply.first)
    assert host == "127.0.0.1"
    assert port >= 1024
    stream = await trio.open_tcp_stream(host, port)
    assert (await client.cmd("RETR a.txt")).code in (125, 150)
    assert await read_all(stream) == b"passive"
    assert (await client.reply()).first == DONE


async def test_pasv_again_replaces_the_endpoint(server: RunningServer, client: FTPClient) -> None:
    _, first = pasv_address((await client.cmd("PASV")).first)
    _, second = pasv_address((await client.cmd("PASV")).first)
    if second != first:  # the kernel may hand the freed port out again
        await assert_refused("127.0.0.1", first)
        stream = await trio.open_tcp_stream("127.0.0.1", second)
        assert (await client.cmd("NLST")).code in (125, 150)
        assert await read_all(stream) == b""
        assert (await client.reply()).first == DONE


async def test_pasv_uses_passive_ports(start_server: StartServer) -> None:
    ports = free_ports(3)
    server = await start_server(passive_ports=ports)
    (server.home / "a.txt").write_bytes(b"ranged")
    client = await server.client()
    seen = set()
    for _ in range(6):
        host, port = pasv_address((await client.cmd("PASV")).first)
        assert port in ports
        seen.add(port)
    stream = await trio.open_tcp_stream(host, port)
    assert (await client.cmd("RETR a.txt")).code in (125, 150)
    assert await read_all(stream) == b"ranged"
    assert (await client.reply()).first == DONE
    # EPSV draws from the same range.
    assert epsv_port((await client.cmd("EPSV")).first) in ports
    await client.aclose()


async def test_pasv_skips_busy_passive_ports(start_server: StartServer) -> None:
    busy = Listener()
    try:
        free = free_ports(1)
        server = await start_server(passive_ports=[busy.port, *free])
        client = await server.client()
        for _ in range(4):
            assert pasv_address((await client.cmd("PASV")).first)[1] == free[0]
        await client.aclose()
    finally:
        busy.close()


async def test_pasv_finds_the_one_free_port_of_a_busy_range(start_server: StartServer) -> None:
    busy = [Listener() for _ in range(40)]
    try:
        free = free_ports(1)
        server = await start_server(passive_ports=[*(b.port for b in busy), *free])
        client = await server.client()
        for _ in range(3):
            assert pasv_address((await client.cmd("PASV")).first)[1] == free[0]
        await client.aclose()
    finally:
        for listener in busy:
            listener.close()


async def test_pasv_takes_a_kernel_port_when_the_range_is_all_busy(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    busy = [Listener() for _ in range(3)]
    try:
        ports = [listener.port for listener in busy]
        server = await start_server(passive_ports=ports)
        (server.home / "a.txt").write_bytes(b"kernel port")
        client = await server.client()
        host, port = pasv_address((await client.cmd("PASV")).first)
        assert port not in ports
        stream = await trio.open_tcp_stream(host, port)
        assert (await client.cmd("RETR a.txt")).code in (125, 150)
        assert await read_all(stream) == b"kernel port"
        assert (await client.reply()).first == DONE
        await client.aclose()
    finally:
        for listener in busy:
            listener.close()
    assert any(
        "No free port in passive_ports; using one the kernel chose." in record.getMessage()
        for record in caplog.records
    )


async def test_masquerade_address(start_server: StartServer) -> None:
    server = await start_server(masquerade_address="192.0.2.7")
    client = await server.client()
    host, port = pasv_address((await client.cmd("PASV")).first)
    assert host == "192.0.2.7"
    # The listener itself is on the real local address.
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    assert (await client.cmd("NLST")).code in (125, 150)
    assert await read_all(stream) == b""
    assert (await client.reply()).first == DONE
    # EPSV carries no address: nothing to masquerade.
    assert EPSV_REPLY.fullmatch((await client.cmd("EPSV")).first)
    await client.aclose()


async def test_masquerade_address_map(start_server: StartServer) -> None:
    server = await start_server(
        masquerade_address="192.0.2.7", masquerade_address_map={"127.0.0.1": "198.51.100.9"}
    )
    client = await server.client()
    host, _ = pasv_address((await client.cmd("PASV")).first)
    assert host == "198.51.100.9"
    await client.aclose()
    other = await start_server(masquerade_address_map={"10.9.9.9": "198.51.100.9"})
    client = await other.client()
    host, _ = pasv_address((await client.cmd("PASV")).first)
    assert host == "127.0.0.1"
    await client.aclose()


# --- EPSV


async def test_epsv_reply_format_and_transfer(server: RunningServer, client: FTPClient) -> None:
    (server.home / "a.txt").write_bytes(b"extended")
    for argument in ("", " 1"):
        port = epsv_port((await client.cmd(f"EPSV{argument}")).first)
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        assert (await client.cmd("RETR a.txt")).code in (125, 150)
        assert await read_all(stream) == b"extended"
        assert (await client.reply()).first == DONE


async def test_epsv_wrong_protocol_is_522(client: FTPClient) -> None:
    assert (await client.cmd("EPSV 2")).first == "522 Network protocol not supported, use (1)"
    reply = await client.cmd("EPSV 3")
    assert reply.code == 522
    assert reply.first.endswith("(1,2)")
    assert (await client.cmd("EPSV x")).code == 501
    # None of them opened an endpoint.
    assert (await client.cmd("LIST")).first == "425 Use PORT/EPRT or PASV/EPSV first."


async def test_epsv_all(server: RunningServer, client: FTPClient) -> None:
    (server.home / "a.txt").write_bytes(b"all")
    assert (await client.cmd("EPSV ALL")).code == 200
    assert (await client.cmd("PASV")).code == 501
    assert (await client.cmd("PORT 127,0,0,1,200,1")).code == 501
    assert (await client.cmd("EPRT |1|127.0.0.1|51201|")).code == 501
    stream = await client.epsv()
    assert (await client.cmd("RETR a.txt")).code in (125, 150)
    assert await read_all(stream) == b"all"
    assert (await client.reply()).first == DONE
    assert (await client.cmd("PASV")).code == 501  # still refused later


# --- PORT / EPRT


async def test_port_and_eprt_foreign_address_refused_without_connecting(
    server: RunningServer, client: FTPClient
) -> None:
    (server.home / "a.txt").write_bytes(b"x")
    listener = Listener("127.0.0.2")
    try:
        p = listener.port
        reply = await client.cmd(f"PORT 127,0,0,2,{p >> 8},{p & 255}")
        assert reply.code == 501, reply
        assert (await client.cmd("RETR a.txt")).code == 425
        reply = await client.cmd(f"EPRT |1|127.0.0.2|{p}|")
        assert reply.code == 501, reply
        assert (await client.cmd("RETR a.txt")).code == 425
        listener.assert_no_connection()
    finally:
        listener.close()


async def test_port_foreign_address_permitted(start_server: StartServer) -> None:
    server = await start_server(permit_foreign_addresses=True)
    (server.home / "a.txt").write_bytes(b"fxp")
    client = await server.client()
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.2", 0))
    listener.listen(1)
    p = listener.getsockname()[1]
    assert (await client.cmd(f"PORT 127,0,0,2,{p >> 8},{p & 255}")).code == 200
    assert (await client.cmd("RETR a.txt")).code == 150
    with trio.fail_after(10):
        sock, _ = await listener.accept()
    listener.close()
    assert await read_all(trio.SocketStream(sock)) == b"fxp"
    assert (await client.reply()).first == DONE
    await client.aclose()


@pytest.mark.parametrize("command", ["PORT 127,0,0,1,0,21", "EPRT |1|127.0.0.1|1023|"])
async def test_privileged_port_refused(client: FTPClient, command: str) -> None:
    reply = await client.cmd(command)
    assert reply.code == 501, reply
    assert (await client.cmd("LIST")).code == 425


async def test_privileged_port_permitted(start_server: StartServer) -> None:
    server = await start_server(permit_privileged_ports=True)
    client = await server.client()
    # Port 1 accepted as an address; nothing listens there, so connecting fails.
    assert (await client.cmd("PORT 127,0,0,1,0,1")).first == (
        "425 Can't connect to specified address."
    )
    assert (await client.cmd("NLST")).first == "425 Use PORT/EPRT or PASV/EPSV first."
    assert (await client.cmd("NOOP")).code == 200
    await client.aclose()


async def test_privileged_port_permitted_connecting_at_transfer(start_server: StartServer) -> None:
    server = await start_server(permit_privileged_ports=True, active_connect_at_port=False)
    client = await server.client()
    assert (await client.cmd("PORT 127,0,0,1,0,1")).first == (
        "200 Active data connection established."
    )
    assert (await client.cmd("NLST")).code == 150
    assert (await client.reply()).first == "425 Can't open data connection."
    assert (await client.cmd("NOOP")).code == 200
    await client.aclose()


async def eprt_to_listener(client: FTPClient) -> trio.SocketStream:
    """EPRT to a fresh listener; return the data connection the server made at once."""
    listener = Listener()
    reply = await client.cmd(f"EPRT |1|127.0.0.1|{listener.port}|")
    assert reply.first == "200 Active data connection established."
    # Already connected, before any transfer command: a non-blocking accept finds it.
    sock, _ = listener.sock.accept()
    listener.close()
    sock.setblocking(False)
    return trio.SocketStream(trio.socket.from_stdlib_socket(sock))


async def test_permitted_foreign_port_connects_only_for_a_transfer(
    start_server: StartServer,
) -> None:
    server = await start_server(permit_foreign_addresses=True)
    client = await server.client()
    listener = Listener("127.0.0.2")
    port = listener.port
    listener.close()  # nothing listens there: the reply must not tell
    assert (await client.cmd(f"PORT 127,0,0,2,{port >> 8},{port & 255}")).first == (
        "200 Active data connection established."
    )
    assert (await client.cmd("NLST")).code == 150
    assert (await client.reply()).first == "425 Can't open data connection."
    await client.aclose()


async def test_port_connects_at_once(server: RunningServer, client: FTPClient) -> None:
    (server.home / "a.txt").write_bytes(b"hello")
    data = await eprt_to_listener(client)
    assert (await client.cmd("RETR a.txt")).code == 150
    assert await read_all(data) == b"hello"
    assert (await client.reply()).first == DONE


async def test_port_connection_unused_is_closed_by_the_next_pasv(
    server: RunningServer, client: FTPClient
) -> None:
    data = await eprt_to_listener(client)
    assert (await client.cmd("PASV")).code == 227
    assert await read_all(data) == b""  # the server closed it


async def test_active_connection_refused_at_port_is_425(
    server: RunningServer, client: FTPClient
) -> None:
    (server.home / "a.txt").write_bytes(b"keep")
    listener = Listener()
    port = listener.port
    listener.close()  # now nothing listens there
    assert (await client.cmd(f"EPRT |1|127.0.0.1|{port}|")).first == (
        "425 Can't connect to specified address."
    )
    assert (await client.cmd("STOR a.txt")).first == "425 Use PORT/EPRT or PASV/EPSV first."
    assert (server.home / "a.txt").read_bytes() == b"keep"


async def test_active_connection_refused_at_transfer_is_425(start_server: StartServer) -> None:
    server = await start_server(active_connect_at_port=False)
    client = await server.client()
    (server.home / "a.txt").write_bytes(b"keep")
    listener = Listener()
    port = listener.port
    listener.close()  # now nothing listens there
    assert (await client.cmd(f"EPRT |1|127.0.0.1|{port}|")).code == 200
    assert (await client.cmd("STOR a.txt")).code == 150
    assert (await client.reply()).first == "425 Can't open data connection."
    assert (server.home / "a.txt").read_bytes() == b"keep"
    assert (await client.cmd(f"PORT 127,0,0,1,{port >> 8},{port & 255}")).code == 200
    assert (await client.cmd("STOU")).code == 150
    assert (await client.reply()).first == "425 Can't open data connection."
    assert sorted(p.name for p in server.home.iterdir()) == ["a.txt"]  # STOU's file removed


@pytest.mark.parametrize(
    "command",
    [
        "PORT 127,0,0,1,4",
        "PORT 127,0,0,1,4,1,1",
        "PORT 127,0,0,1,256,1",
        "PORT 127,0,0,1,0,0",
        "PORT 127,0,0,a,4,1",
        "PORT 127.0.0.1.4.1",
        "PORT -1,0,0,1,4,1",
        "EPRT |1|127.0.0.1|",
        "EPRT |1|127.0.0.1|70000|",
        "EPRT |1|127.0.0.1|0|",
        "EPRT |1|127.0.0.1|port|",
        "EPRT |1|127.0.0.300|5000|",
        "EPRT |1|::1|5000|",
        "EPRT |1|localhost|5000|",
        "EPRT 1|127.0.0.1|5000",
        "EPRT |x|127.0.0.1|5000|",
    ],
)
async def test_malformed_port_and_eprt_are_501(client: FTPClient, command: str) -> None:
    reply = await client.cmd(command)
    assert reply.code == 501, reply
    assert (await client.cmd("LIST")).code == 425


async def test_eprt_unknown_protocol_is_522(client: FTPClient) -> None:
    reply = await client.cmd("EPRT |3|127.0.0.1|5000|")
    assert reply.code == 522, reply
    reply = await client.cmd("EPRT |2|::1|5000|")
    assert reply.first == "522 Network protocol not supported, use (1)"
    # The protocol is refused before the address is looked at.
    reply = await client.cmd("EPRT |2|1.2.3.256|5000|")
    assert reply.first == "522 Network protocol not supported, use (1)"
    assert (await client.cmd("LIST")).code == 425


async def test_port_replaces_passive_endpoint(server: RunningServer, client: FTPClient) -> None:
    (server.home / "a.txt").write_bytes(b"active now")
    _, port = pasv_address((await client.cmd("PASV")).first)
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    p = listener.getsockname()[1]
    assert (await client.cmd(f"PORT 127,0,0,1,{p >> 8},{p & 255}")).code == 200
    await assert_refused("127.0.0.1", port)
    assert (await client.cmd("RETR a.txt")).code == 150
    sock, _ = await listener.accept()
    listener.close()
    assert await read_all(trio.SocketStream(sock)) == b"active now"
    assert (await client.reply()).first == DONE


# --- the passive listener and foreign hosts


async def test_passive_drops_foreign_host_silently(
    server: RunningServer, client: FTPClient
) -> None:
    (server.home / "a.txt").write_bytes(b"for the client only")
    host, port = pasv_address((await client.cmd("PASV")).first)
    intruder = await connect_from("127.0.0.2", host, port)
    with trio.fail_after(10):
        try:
            received = await intruder.receive_some(100)
        except trio.BrokenResourceError:
            received = b""
    assert received == b""  # closed, without a byte
    await intruder.aclose()
    # No reply came on the control connection: the next one answers NOOP.
    assert (await client.cmd("NOOP")).first == "200 I successfully did nothing."
    stream = await trio.open_tcp_stream(host, port)
    assert (await client.cmd("NOOP")).code == 200
    assert (await client.cmd("RETR a.txt")).first == (
        "125 Data connection already open. Transfer starting."
    )
    assert await read_all(stream) == b"for the client only"
    assert (await client.reply()).first == DONE


async def test_passive_accepts_foreign_host_when_permitted(start_server: StartServer) -> None:
    server = await start_server(permit_foreign_addresses=True)
    (server.home / "a.txt").write_bytes(b"fxp data")
    client = await server.client()
    host, port = pasv_address((await client.cmd("PASV")).first)
    other = await connect_from("127.0.0.2", host, port)
    assert (await client.cmd("NOOP")).code == 200
    assert (await client.cmd("RETR a.txt")).code == 125
    assert await read_all(other) == b"fxp data"
    assert (await client.reply()).first == DONE
    await client.aclose()


# --- IPv6


@pytest.fixture
async def server6(start_server: StartServer) -> RunningServer:
    return await start_server(host="::1")


async def test_ipv6_epsv_and_eprt_transfers(server6: RunningServer) -> None:
    (server6.home / "a.txt").write_bytes(b"six")
    client = await server6.client()
    assert client.stream.socket.family == socket.AF_INET6
    # EPSV, plain and with protocol 2
    for command in ("EPSV", "EPSV 2"):
        port = epsv_port((await client.cmd(command)).first)
        stream = await trio.open_tcp_stream("::1", port)
        assert (await client.cmd("RETR a.txt")).code in (125, 150)
        assert await read_all(stream) == b"six"
        assert (await client.reply()).first == DONE
    # EPRT |2| (the client helper sends it on an IPv6 control connection)
    accept = await client.port()
    assert (await client.cmd("STOR b.txt")).first == (
        "150 File status okay. About to open data connection."
    )
    stream = await accept()
    assert stream.socket.getpeername()[0] == "::1"
    await stream.send_all(b"uploaded over v6")
    await stream.aclose()
    assert (await client.reply()).first == DONE
    assert (server6.home / "b.txt").read_bytes() == b"uploaded over v6"
    await client.aclose()


async def test_ipv6_refuses_ipv4_commands(server6: RunningServer) -> None:
    client = await server6.client()
    # RFC 959 gives PASV no "wrong network protocol" reply; 425 would mean the
    # connection failed. 522 is what PORT answers here too (RFC 2428).
    assert (await client.cmd("PASV")).first == "522 PASV is for IPv4 only; use EPSV."
    reply = await client.cmd("PORT 127,0,0,1,200,1")
    assert reply.first == "522 Network protocol not supported, use (2)"
    reply = await client.cmd("EPRT |1|127.0.0.1|51201|")
    assert reply.first == "522 Network protocol not supported, use (2)"
    assert (await client.cmd("EPSV 1")).first == "522 Network protocol not supported, use (2)"
    assert (await client.cmd("LIST")).code == 425
    # A foreign IPv6 address is refused too.
    assert (await client.cmd("EPRT |2|::2|51201|")).code == 501
    await client.aclose()


async def test_dual_stack_server_with_ipv4_client(start_server: StartServer) -> None:
    """On a "::" listener an IPv4 client's addresses are IPv4-mapped; all four commands work."""
    server = await start_server(host="::")
    (server.home / "a.txt").write_bytes(b"mapped")
    client, greeting = await FTPClient.connect("127.0.0.1", server.port)
    assert greeting.code == 220
    assert (await client.login()).code == 230
    host, port = pasv_address((await client.cmd("PASV")).first)
    assert host == "127.0.0.1"
    stream = await trio.open_tcp_stream(host, port)
    assert (await client.cmd("RETR a.txt")).code in (125, 150)
    assert await read_all(stream) == b"mapped"
    assert (await client.reply()).first == DONE
    stream = await client.epsv()
    assert (await client.cmd("RETR a.txt")).code in (125, 150)
    assert await read_all(stream) == b"mapped"
    assert (await client.reply()).first == DONE
    for command in ("PORT 127,0,0,1,{hi},{lo}", "EPRT |1|127.0.0.1|{port}|"):
        with trio.socket.socket() as listener:
            await listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            p = listener.getsockname()[1]
            line = command.format(hi=p >> 8, lo=p & 255, port=p)
            assert (await client.cmd(line)).code == 200
            assert (await client.cmd("RETR a.txt")).code == 150
            with trio.fail_after(10):
                sock, _ = await listener.accept()
        assert await read_all(trio.SocketStream(sock)) == b"mapped"
        assert (await client.reply()).first == DONE
    await client.aclose()


# --- STAT during a transfer


async def test_stat_during_transfer_shows_progress(
    server: RunningServer, client: FTPClient
) -> None:
    size = 64 * 1024 * 1024
    with (server.home / "big.bin").open("wb") as file:
        file.truncate(size)
    assert (await client.cmd("TYPE I")).code == 200
    stream = await client.pasv()
    assert (await client.cmd("NOOP")).code == 200
    assert (await client.cmd("RETR big.bin")).code == 125
    # The client reads nothing, so the server stalls with part of the file sent.
    with trio.fail_after(10):
        while True:
            reply = await client.cmd("STAT")
            assert reply.first == "211-Transfer status:"
            assert reply.lines[-1] == "211 End of status."
            found = re.search(r"transfer in progress: (\d+) bytes transmitted", str(reply))
            if found and int(found.group(1)) > 0:
                break
    assert " TYPE: Binary; STRUcture: File; MODE: Stream" in reply.lines
    moved = int(found.group(1))
    assert moved < size
    total = 0
    async with stream:
        while data := await stream.receive_some(1 << 20):
            total += len(data)
    assert total == size
    assert (await client.reply()).first == DONE
    # Between transfers STAT says so.
    reply = await client.cmd("STAT")
    assert reply.first == "211-FTP server status:"
    assert " Data connection closed." in reply.lines
    _, port = pasv_address((await client.cmd("PASV")).first)
    reply = await client.cmd("STAT")
    assert f" Passive data channel on port {port}, waiting for connection." in reply.lines


async def test_active_connection_comes_from_the_server_address(
    server: RunningServer, client: FTPClient
) -> None:
    """Active connections come from the control connection's address."""
    (server.home / "a.txt").write_bytes(b"x")
    accept = await client.port()
    assert (await client.cmd("RETR a.txt")).code == 150
    stream = await accept()
    assert stream.socket.getpeername()[0] == "127.0.0.1"
    assert await read_all(stream) == b"x"
    assert (await client.reply()).first == DONE
