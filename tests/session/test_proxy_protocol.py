"""PROXY protocol on the control listener: headers from trusted load balancers only.

The "load balancer" is the test itself, connecting from 127.0.0.1 (trusted)
or from another loopback address (not trusted), and writing the header a
load balancer would write before the FTP conversation.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from trioftp.handlers import FTPHandler, TLS_FTPHandler
from trioftp.protocol.proxyheader import ProxySource
from trioftp.servers import FTPServer
from trioftp.session.events import Observer
from trioftp.session.runner import InlineRunner

from ..support.ftpclient import FTPClient, read_all
from ..support.proxyheaders import V2_LOCAL, v1, v2, v2_tcp
from ..support.servers import PASSWORD, USER, make_handler
from ..support.tlsclient import Certs, TLSClient, client_context, make_certs

NODE = ("198.51.100.1", 21)  # the load balancer's public address, as the header names it
NOT_UNDERSTOOD = '500 Command "PROXY" not understood.'


class Connections(Observer):
    """Records the client address every session reports when it starts and ends."""

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.closed: list[str] = []

    def connected(self, remote_ip: str) -> None:
        self.opened.append(remote_ip)

    def disconnected(self, remote_ip: str) -> None:
        self.closed.append(remote_ip)


@attrs.define
class Node:
    """A server behind the test's "load balancer"."""

    server: FTPServer
    home: Path
    seen: Connections

    @property
    def address(self) -> tuple[str, int]:
        return self.server.address

    async def connect(self, header: bytes = b"", *, source: str = "127.0.0.1") -> FTPClient:
        """Connect from *source* and send *header* at once; no reply read."""
        sock = trio.socket.socket(socket.AF_INET6 if ":" in source else socket.AF_INET)
        await sock.bind((source, 0))
        await sock.connect(self.address)
        client = FTPClient(trio.SocketStream(sock))
        if header:
            await client.send_raw(header)
        return client

    async def relayed(self, header: bytes, *, source: str = "127.0.0.1") -> FTPClient:
        """Connect with *header*, read the greeting (which must come), log in."""
        client = await self.connect(header, source=source)
        assert (await client.reply()).code == 220
        assert (await client.login(USER, PASSWORD)).code == 230
        return client


StartNode = Callable[..., Awaitable[Node]]


@pytest.fixture
def start_node(nursery: trio.Nursery, home: Path) -> StartNode:
    """``await start_node(trusted=[...], max_cons_per_ip=..., host=..., **handler_attributes)``."""

    async def start(
        trusted: Sequence[ProxySource] = ("127.0.0.1",),
        max_cons_per_ip: int = 0,
        base: type[FTPHandler] = FTPHandler,
        host: str = "127.0.0.1",
        **attributes: Any,
    ) -> Node:
        server = FTPServer(
            (host, 0), make_handler(home, base=base, **attributes), runner=InlineRunner()
        )
        server.proxy_protocol_from = list(trusted)
        server.max_cons_per_ip = max_cons_per_ip
        seen = Connections()
        server.add_observer(seen)
        await nursery.start(server.serve)
        return Node(server, home, seen)

    return start


@pytest.fixture
def node_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="trioftp")
    return caplog


def messages(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= level]


async def assert_closed_without_greeting(client: FTPClient) -> None:
    with trio.fail_after(10):
        try:
            received = await client.stream.receive_some(100)
        except trio.BrokenResourceError:  # reset: the header was still unread
            received = b""
    assert received == b""
    await client.aclose()


# --- headers naming the client


@pytest.mark.parametrize(
    ("header", "client"),
    [
        (v1(("192.0.2.10", 40001), NODE), ("192.0.2.10", 40001)),
        (v1(("2001:db8::10", 40002), ("2001:db8::1", 21)), ("2001:db8::10", 40002)),
        (v2_tcp(("192.0.2.11", 40003), NODE), ("192.0.2.11", 40003)),
        (v2_tcp(("2001:db8::11", 40004), ("2001:db8::1", 21)), ("2001:db8::11", 40004)),
        # An IPv4 client announced in IPv6 form counts as that IPv4 address.
        (v2_tcp(("::ffff:192.0.2.12", 40005), ("::ffff:198.51.100.1", 21)), ("192.0.2.12", 40005)),
        # TLVs (here PP2_TYPE_AUTHORITY) are skipped.
        (v2_tcp(("192.0.2.13", 40006), NODE, b"\x02\x00\x07ftp.lan"), ("192.0.2.13", 40006)),
    ],
)
async def test_the_header_s_client_is_the_session_s(
    start_node: StartNode,
    node_log: pytest.LogCaptureFixture,
    header: bytes,
    client: tuple[str, int],
) -> None:
    node = await start_node()
    connection = await node.relayed(header)
    assert node.server.ip_map == [client[0]]
    assert (await connection.cmd("QUIT")).code == 221
    assert await connection.at_eof()
    await trio.testing.wait_all_tasks_blocked()
    assert node.seen.opened == node.seen.closed == [client[0]]
    host = f"[{client[0]}]" if ":" in client[0] else client[0]
    prefix = f"{host}:{client[1]}"
    assert f"{prefix}-[] FTP session opened (connect)" in messages(node_log)
    assert f"{prefix}-[user] USER 'user' logged in." in messages(node_log)
    assert f"{prefix}-[user] FTP session closed (disconnect)." in messages(node_log)


async def test_remote_ip_and_port_are_the_client_s(start_node: StartNode) -> None:
    sessions: list[FTPHandler] = []

    class Recording(FTPHandler):
        def on_connect(self) -> None:
            sessions.append(self)

    node = await start_node(base=Recording)
    connection = await node.relayed(v2_tcp(("203.0.113.9", 51000), NODE))
    (session,) = sessions
    assert (session.remote_ip, session.remote_port) == ("203.0.113.9", 51000)
    # The session's own end stays the node's socket (passive listeners bind there).
    assert (session.local_ip, session.local_port) == node.address
    assert session.statistics().remote_address == ("203.0.113.9", 51000)
    await connection.aclose()


@pytest.mark.parametrize(
    "header", [V2_LOCAL, v2(0x0, 0x11, bytes(12)), b"PROXY UNKNOWN\r\n", v2(0x1, 0x00)]
)
async def test_local_and_unknown_keep_the_connection_s_own_address(
    start_node: StartNode, node_log: pytest.LogCaptureFixture, header: bytes
) -> None:
    node = await start_node()
    connection = await node.relayed(header)
    local_port = connection.stream.socket.getsockname()[1]
    assert node.server.ip_map == ["127.0.0.1"]
    assert f"127.0.0.1:{local_port}-[] FTP session opened (connect)" in messages(node_log)
    await connection.aclose()


async def test_header_in_pieces_and_a_command_right_behind_it(start_node: StartNode) -> None:
    node = await start_node()
    header = v2_tcp(("192.0.2.20", 40020), NODE)
    client = await node.connect(header[:1])
    for piece in (header[1:5], header[5:13], header[13:20], header[20:]):
        await trio.testing.wait_all_tasks_blocked()
        assert node.server.ip_map == []  # still reading the header
        await client.send_raw(piece)
    assert (await client.reply()).code == 220
    await client.aclose()
    # Version 1 split at every byte, with commands in the same segment as its end.
    line = v1(("192.0.2.21", 40021), NODE)
    client = await node.connect()
    for byte in line[:-1]:
        await client.send_raw(bytes([byte]))
        await trio.testing.wait_all_tasks_blocked()
    await client.send_raw(line[-1:] + b"NOOP\r\nSYST\r\n")
    assert (await client.reply()).code == 220
    assert (await client.reply()).first == "200 I successfully did nothing."
    assert (await client.reply()).first == "215 UNIX Type: L8"
    assert node.server.ip_map == ["192.0.2.21"]
    await client.aclose()


# --- a trusted source that does not send a valid header


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"USER anonymous\r\n", "not a PROXY header"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "not a PROXY header"),
        (
            b"PROXY TCP4 192.0.2.1 198.51.100.1 65536 21\r\n",
            "version 1 header with invalid port b'65536'",
        ),
        (b"PROXY TCP4 192.0.2.1 198.51.100.1 1 21\n", "version 1 header with a lone CR or LF"),
        (b"PROXY UNKNOWN " + b"x" * 200, "version 1 header without CRLF in 107 bytes"),
        (v2(0x1, 0x11, bytes(8)), "version 2 header with 8 address bytes where 12 are needed"),
        (v2(0x3, 0x11, bytes(12)), "version 2 header with unknown command 0x3"),
        (b"\x16\x03\x01\x00\xa5\x01", "not a PROXY header"),  # a TLS ClientHello
    ],
)
async def test_malformed_header_closes_before_the_greeting(
    start_node: StartNode, node_log: pytest.LogCaptureFixture, data: bytes, why: str
) -> None:
    node = await start_node()
    client = await node.connect(data)
    local_port = client.stream.socket.getsockname()[1]
    await assert_closed_without_greeting(client)
    assert messages(node_log, logging.WARNING) == [
        f"127.0.0.1:{local_port} bad PROXY header ({why}); connection closed"
    ]
    assert node.seen.opened == []
    assert node.server.ip_map == []


async def test_header_cut_short_closes_quietly_logged(
    start_node: StartNode, node_log: pytest.LogCaptureFixture
) -> None:
    node = await start_node()
    client = await node.connect(v2_tcp(("192.0.2.1", 1), NODE)[:20])
    local_port = client.stream.socket.getsockname()[1]
    await client.stream.send_eof()
    await assert_closed_without_greeting(client)
    assert messages(node_log, logging.WARNING) == [
        f"127.0.0.1:{local_port} bad PROXY header "
        "(connection closed before the PROXY header was complete); connection closed"
    ]


async def test_connection_without_a_byte_is_logged_as_info(
    start_node: StartNode, node_log: pytest.LogCaptureFixture
) -> None:
    # What a plain TCP health check (no check-send-proxy) looks like.
    node = await start_node()
    client = await node.connect()
    local_port = client.stream.socket.getsockname()[1]
    await client.stream.send_eof()
    await assert_closed_without_greeting(client)
    assert messages(node_log, logging.WARNING) == []
    assert messages(node_log) == [
        f"127.0.0.1:{local_port} closed the connection without a PROXY header"
    ]


async def test_no_header_in_time_closes_before_the_greeting(
    start_node: StartNode,
    node_log: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    node = await start_node()
    node.server.proxy_protocol_timeout = 3
    waiting = await node.connect()  # says nothing, as an FTP client waiting for the greeting
    local_port = waiting.stream.socket.getsockname()[1]
    slow = await node.connect(b"PROXY TCP4 192.0.2.1 ")  # half a header, then nothing
    slow_port = slow.stream.socket.getsockname()[1]
    start = trio.current_time()
    await assert_closed_without_greeting(waiting)
    await assert_closed_without_greeting(slow)
    assert trio.current_time() - start == pytest.approx(3)
    assert sorted(messages(node_log, logging.WARNING)) == sorted(
        f"127.0.0.1:{port} sent no PROXY header in 3 seconds; connection closed"
        for port in (local_port, slow_port)
    )
    assert node.seen.opened == []


# --- sources that are not trusted


async def test_untrusted_source_is_served_as_it_is(
    start_node: StartNode, node_log: pytest.LogCaptureFixture
) -> None:
    node = await start_node(trusted=["127.0.0.1", "10.0.0.0/8"])
    client = await node.connect(source="127.0.0.2")
    assert (await client.reply()).code == 220  # greeted at once: no header is awaited
    # A header from it is only a command nobody knows; it does not change the address.
    reply = await client.cmd(v1(("192.0.2.66", 6666), NODE).rstrip(b"\r\n"))
    assert reply.first == NOT_UNDERSTOOD
    assert (await client.login(USER, PASSWORD)).code == 230
    assert node.server.ip_map == ["127.0.0.2"]
    assert node.seen.opened == ["127.0.0.2"]
    assert not [m for m in messages(node_log) if "192.0.2.66" in m.split(" ", 1)[0]]
    await client.aclose()


async def test_without_proxy_protocol_from_nobody_is_trusted(start_node: StartNode) -> None:
    node = await start_node(trusted=[])
    client = await node.connect(b"PROXY TCP4 192.0.2.66 198.51.100.1 6666 21\r\n")
    assert (await client.reply()).code == 220
    assert (await client.reply()).first == NOT_UNDERSTOOD
    assert node.server.ip_map == ["127.0.0.1"]
    await client.aclose()


@pytest.mark.parametrize("bad", [["10.0.0.1/8"], ["not-an-address"], ["127.0.0.1", "::1/200"]])
async def test_invalid_proxy_protocol_from_is_refused_when_serving_starts(
    home: Path, bad: list[str]
) -> None:
    server = FTPServer(("127.0.0.1", 0), make_handler(home))
    server.proxy_protocol_from = bad
    with pytest.raises(ValueError, match="proxy_protocol_from: "):
        await server.serve()
    server.socket.close()


async def test_networks_and_address_objects_are_trusted(start_node: StartNode) -> None:
    node = await start_node(trusted=[ipaddress.ip_network("127.0.0.0/30"), "::1"])
    client = await node.connect(v1(("192.0.2.30", 30), NODE), source="127.0.0.2")
    assert (await client.reply()).code == 220
    assert node.server.ip_map == ["192.0.2.30"]
    await client.aclose()
    outside = await node.connect(source="127.0.0.4")
    assert (await outside.reply()).code == 220
    assert sorted(node.server.ip_map) == ["127.0.0.4"]
    await outside.aclose()


# --- the real client in limits and data-connection checks


async def test_max_cons_per_ip_counts_the_relayed_clients(start_node: StartNode) -> None:
    node = await start_node(max_cons_per_ip=1)
    first = await node.relayed(v2_tcp(("192.0.2.40", 1), NODE))
    # The same client again, through the same load balancer: over its limit.
    again = await node.connect(v2_tcp(("192.0.2.40", 2), NODE))
    assert (await again.reply()).first == "421 Too many connections from the same IP address."
    assert await again.at_eof()
    await again.aclose()
    # Another client through the same load balancer has its own count.
    other = await node.relayed(v1(("192.0.2.41", 3), NODE))
    # Health checks (LOCAL) count as the load balancer itself.
    check = await node.connect(V2_LOCAL)
    assert (await check.reply()).code == 220
    assert sorted(node.server.ip_map) == ["127.0.0.1", "192.0.2.40", "192.0.2.41"]
    for client in (first, other, check):
        await client.aclose()


async def passive_port(client: FTPClient) -> int:
    reply = await client.cmd("PASV")
    assert reply.code == 227, reply
    p1, p2 = reply.text.rstrip(").").split(",")[-2:]
    return int(p1) * 256 + int(p2)


async def test_passive_data_connection_straight_from_the_relayed_client(
    start_node: StartNode, node_log: pytest.LogCaptureFixture
) -> None:
    # The load balancer (127.0.0.1) relays a client whose real address is 127.0.0.3;
    # its data connections come straight to the node, from that address.
    node = await start_node()
    (node.home / "a.txt").write_bytes(b"for the real client")
    client = await node.relayed(v2_tcp(("127.0.0.3", 40050), NODE))
    port = await passive_port(client)
    # From another host: dropped.
    intruder = await node_connect_data("127.0.0.4", port)
    await assert_closed_without_greeting(FTPClient(intruder))
    assert messages(node_log, logging.WARNING) == [
        "127.0.0.3:40050-[user] Rejected passive data connection from foreign address 127.0.0.4."
    ]
    # From the client's own address: accepted.
    data = await node_connect_data("127.0.0.3", port)
    assert (await client.cmd("RETR a.txt")).code == 125
    assert await read_all(data) == b"for the real client"
    assert (await client.reply()).first == "226 Transfer complete."
    await client.aclose()


async def test_passive_data_connection_relayed_by_the_load_balancer(
    start_node: StartNode, node_log: pytest.LogCaptureFixture
) -> None:
    # A load balancer that relays the passive ports too puts a PROXY header on
    # each data connection: the client it names must be the session's.
    node = await start_node()
    (node.home / "a.txt").write_bytes(b"relayed data")
    client = await node.relayed(v1(("192.0.2.50", 40070), NODE))
    port = await passive_port(client)
    other = await node_connect_data("127.0.0.1", port)
    await other.send_all(v2_tcp(("192.0.2.51", 1234), NODE))
    await assert_closed_without_greeting(FTPClient(other))
    bad = await node_connect_data("127.0.0.1", port)
    await bad.send_all(b"PROXY TCP4 192.0.2.50\r\n")
    await assert_closed_without_greeting(FTPClient(bad))
    assert messages(node_log, logging.WARNING) == [
        "192.0.2.50:40070-[user] Rejected passive data connection from foreign address 192.0.2.51.",
        "192.0.2.50:40070-[user] Dropped passive data connection from 127.0.0.1: "
        "version 1 header without exactly two addresses and two ports.",
    ]
    # The client's own connection, through the load balancer; the data right
    # behind the header (here an upload) is kept whole.
    data = await node_connect_data("127.0.0.1", port)
    await data.send_all(v2_tcp(("192.0.2.50", 40071), NODE) + b"uploaded ")
    assert (await client.cmd("STOR b.txt")).code == 125
    await data.send_all(b"through the balancer")
    await data.aclose()
    assert (await client.reply()).first == "226 Transfer complete."
    assert (node.home / "b.txt").read_bytes() == b"uploaded through the balancer"
    await client.aclose()


async def test_relayed_data_connection_without_header_in_time_is_dropped(
    start_node: StartNode,
    node_log: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    node = await start_node()
    node.server.proxy_protocol_timeout = 3
    (node.home / "a.txt").write_bytes(b"late but fine")
    client = await node.relayed(v2_tcp(("192.0.2.60", 40080), NODE))
    port = await passive_port(client)
    silent = await node_connect_data("127.0.0.1", port)
    await assert_closed_without_greeting(FTPClient(silent))
    assert messages(node_log, logging.WARNING) == [
        "192.0.2.60:40080-[user] Dropped passive data connection from 127.0.0.1: "
        "sent no PROXY header in 3 seconds."
    ]
    # The passive endpoint still waits for the client (data_connect_timeout).
    data = await node_connect_data("127.0.0.1", port)
    await data.send_all(v1(("192.0.2.60", 40081), NODE))
    assert (await client.cmd("RETR a.txt")).code == 125
    assert await read_all(data) == b"late but fine"
    assert (await client.reply()).first == "226 Transfer complete."
    await client.aclose()


async def test_port_must_name_the_relayed_client(start_node: StartNode) -> None:
    node = await start_node()
    client = await node.relayed(v1(("127.0.0.3", 40060), NODE))
    # The load balancer's address is not the client's.
    reply = await client.cmd("PORT 127,0,0,1,200,1")
    assert reply.first == "501 Rejected data connection to foreign address 127.0.0.1:51201."
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.3", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    reply = await client.cmd(f"PORT 127,0,0,3,{port >> 8},{port & 255}")
    assert reply.first == "200 Active data connection established."
    assert (await client.cmd("LIST")).code == 150
    sock, _ = await listener.accept()
    listener.close()
    await read_all(trio.SocketStream(sock))
    assert (await client.reply()).first == "226 Transfer complete."
    await client.aclose()


async def node_connect_data(source: str, port: int) -> trio.SocketStream:
    sock = trio.socket.socket()
    await sock.bind((source, 0))
    await sock.connect(("127.0.0.1", port))
    return trio.SocketStream(sock)


# --- implicit FTPS: the header comes before the TLS handshake


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


async def test_implicit_ftps_behind_a_proxy_header(
    start_node: StartNode, node_log: pytest.LogCaptureFixture, certs: Certs
) -> None:
    # The load balancer is 127.0.0.2 here: the client, 127.0.0.1, makes its data
    # connections straight to the node.
    node = await start_node(
        trusted=["127.0.0.2"],
        base=TLS_FTPHandler,
        certfile=certs.certfile,
        keyfile=certs.keyfile,
        tls_implicit=True,
    )
    (node.home / "a.bin").write_bytes(b"secret" * 1000)
    header = v2_tcp(("127.0.0.1", 4242), NODE)
    transport = (await node.connect(header, source="127.0.0.2")).stream
    client = TLSClient(transport, client_context(certs.ca))
    await client.start_tls()  # the ClientHello follows the header at once
    assert (await client.reply()).code == 220
    assert (await client.login()).code == 230
    assert (await client.cmd("TYPE I")).code == 200
    _, received, final = await client.download("RETR a.bin")
    assert received == b"secret" * 1000
    assert final.first == "226 Transfer complete."
    assert "127.0.0.1:4242-[user] USER 'user' logged in." in messages(node_log)
    await client.aclose()


async def test_proxy_protocol_from_made_invalid_while_serving(
    start_node: StartNode, node_log: pytest.LogCaptureFixture
) -> None:
    node = await start_node()
    client = await node.relayed(v1(("192.0.2.70", 40090), NODE))
    node.server.proxy_protocol_from = ["10.0.0.1/8"]
    # New connections are closed with the error logged...
    refused = await node.connect(v1(("192.0.2.71", 1), NODE))
    await assert_closed_without_greeting(refused)
    assert messages(node_log, logging.ERROR) == [
        "proxy_protocol_from: 10.0.0.1/8 has host bits set; connection from 127.0.0.1 closed"
    ]
    # ...and the open session goes on; its data connections are read without a header.
    assert (await client.cmd("NOOP")).first == "200 I successfully did nothing."
    port = await passive_port(client)
    relayed = await node_connect_data("127.0.0.1", port)
    await relayed.send_all(v1(("192.0.2.70", 40091), NODE))
    await assert_closed_without_greeting(FTPClient(relayed))
    assert (
        "192.0.2.70:40090-[user] Rejected passive data connection from foreign address 127.0.0.1."
    ) in messages(node_log, logging.WARNING)
    await client.aclose()


async def test_new_pasv_closes_a_relayed_data_connection_still_without_header(
    start_node: StartNode, autojump_clock: trio.testing.MockClock
) -> None:
    node = await start_node()
    client = await node.relayed(v2_tcp(("192.0.2.80", 40100), NODE))
    port = await passive_port(client)
    silent = await node_connect_data("127.0.0.1", port)
    await trio.testing.wait_all_tasks_blocked()
    start = trio.current_time()
    await passive_port(client)  # replaces the endpoint whose header was awaited
    await assert_closed_without_greeting(FTPClient(silent))
    assert trio.current_time() == start  # at once, not after proxy_protocol_timeout
    await client.aclose()


async def test_node_reached_over_ipv6_relaying_an_ipv4_client(start_node: StartNode) -> None:
    # The load balancer reaches the node over IPv6 (::1); the client it relays is IPv4.
    node = await start_node(trusted=["::1"], host="::1", masquerade_address="127.0.0.1")
    (node.home / "a.txt").write_bytes(b"across families")
    client = await node.relayed(v1(("127.0.0.3", 40110), NODE), source="::1")
    # PASV announces the IPv4 public address; the "load balancer" relays the data
    # connection to the node's IPv6 passive socket with the client's header.
    port = await passive_port(client)
    sock = trio.socket.socket(socket.AF_INET6)
    await sock.bind(("::1", 0))
    await sock.connect(("::1", port))
    data = trio.SocketStream(sock)
    await data.send_all(v1(("127.0.0.3", 40111), NODE))
    assert (await client.cmd("RETR a.txt")).code == 125
    assert await read_all(data) == b"across families"
    assert (await client.reply()).first == "226 Transfer complete."
    # EPSV and EPRT speak the client's protocol (1: IPv4).
    assert (await client.cmd("EPSV 2")).first == "522 Network protocol not supported, use (1)"
    # Active mode: from an IPv4 address the system picks, to the IPv4 client.
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.3", 0))
    listener.listen(1)
    active_port = listener.getsockname()[1]
    reply = await client.cmd(f"EPRT |1|127.0.0.3|{active_port}|")
    assert reply.first == "200 Active data connection established."
    assert (await client.cmd("RETR a.txt")).code == 150
    accepted, _ = await listener.accept()
    listener.close()
    assert await read_all(trio.SocketStream(accepted)) == b"across families"
    assert (await client.reply()).first == "226 Transfer complete."
    await client.aclose()
