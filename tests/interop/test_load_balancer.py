"""Two trioftp nodes behind a real HAProxy (TCP mode, PROXY protocol v2), one shared store.

HAProxy listens on 127.0.0.1, the service's public address, with one
control frontend per node, so each test picks its node; both backends
health-check their node with the PROXY header (``check-send-proxy``). Node
A listens on 127.0.0.11 and node B on 127.0.0.12, each with its own passive
port range and ``masquerade_address``, and each trusts the PROXY header of
HAProxy's address only. The clients connect from 127.0.0.2 and 127.0.0.3,
the "real" client addresses. Two ways to carry the data connections:

* ``relayed`` (the default): HAProxy relays each node's passive port range
  to that node too, with a PROXY header, and every node announces HAProxy's
  address. Clients that open data connections to the control connection's
  address (EPSV; curl and ftplib also for PASV) work.
* ``direct``: each node announces its own address and the clients connect
  to it straight from their own address (a client that trusts the PASV
  address; the balancer relays only the control connection).
"""

from __future__ import annotations

import ftplib
import io
import logging
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest
import trio

from trioftp.handlers import FTPHandler, TLS_FTPHandler
from trioftp.servers import FTPServer
from trioftp.session.events import Observer
from trioftp.storage import FsspecFS

from ..support.haproxy import HAProxy, StartHAProxy, free_port_range
from ..support.interop import assert_ok, curl_commands, lftp_commands, run_curl, run_lftp
from ..support.s3server import S3Endpoint
from ..support.servers import PASSWORD, USER, make_handler
from ..support.tlsclient import Certs, TLSClient, client_context, make_certs

T = TypeVar("T")

BALANCER = "127.0.0.1"
PASV_REPLY = re.compile(r"227 Entering Passive Mode \((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)\.")


def shared_store_handler(store: Path, **attributes: Any) -> type[FTPHandler]:
    """The handler class of one node, serving the local directory every node shares."""
    return make_handler(store, **attributes)


def bucket_handler(s3: S3Endpoint, bucket: str, home: Path) -> type[FTPHandler]:
    """The handler class of one node, serving the S3 bucket every node shares.

    *home* is only the users' login directory: a store is served from its root.
    """
    store = FsspecFS.configured(s3.filesystem(), bucket, part_size=5 << 20)
    return make_handler(home, abstracted_fs=store)


class Sessions(Observer):
    """The client address of every session a node started."""

    def __init__(self) -> None:
        self.clients: list[str] = []
        self._more = trio.Event()

    def connected(self, remote_ip: str) -> None:
        self.clients.append(remote_ip)
        self._more.set()
        self._more = trio.Event()

    async def wait_for(self, count: int) -> None:
        """Wait until *count* sessions have started."""
        while len(self.clients) < count:
            await self._more.wait()


@attrs.frozen
class Node:
    server: FTPServer
    public_address: str
    passive_ports: range
    sessions: Sessions


@attrs.frozen
class Cluster:
    nodes: dict[str, Node]
    balancer: HAProxy
    mode: str

    def frontend(self, node: str) -> tuple[str, int]:
        """HAProxy's address that leads to *node*."""
        return self.balancer.frontends[f"ftp_{node}"]


async def start_node(
    nursery: trio.Nursery, handler: type[FTPHandler], address: str, ports: range, public: str
) -> Node:
    """A node listening on *address*, announcing *public* and *ports* in PASV replies."""
    node_handler = type("NodeHandler", (handler,), {
        "masquerade_address": public,
        "passive_ports": list(ports),
    })  # fmt: skip
    server = FTPServer((address, 0), node_handler)
    server.proxy_protocol_from = [BALANCER]
    server.max_cons_per_ip = 1
    sessions = Sessions()
    server.add_observer(sessions)
    await nursery.start(server.serve)
    return Node(server, public, ports, sessions)


async def start_cluster(
    nursery: trio.Nursery, haproxy: StartHAProxy, handler: type[FTPHandler], mode: str
) -> Cluster:
    ports = free_port_range(20)
    ranges = {"a": ports[:10], "b": ports[10:]}
    hosts = {"a": "127.0.0.11", "b": "127.0.0.12"}
    nodes = {
        name: await start_node(
            nursery, handler, host, ranges[name], BALANCER if mode == "relayed" else host
        )
        for name, host in hosts.items()
    }
    passive = {f"data_{name}": (ranges[name], hosts[name]) for name in nodes}
    balancer = await haproxy(
        {f"ftp_{name}": [node.server.address] for name, node in nodes.items()},
        passive=passive if mode == "relayed" else None,
    )
    await balancer.wait_until_checked()
    return Cluster(nodes, balancer, mode)


@pytest.fixture
def shared_store(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    path.mkdir()
    return path


@pytest.fixture
def node_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="trioftp")
    return caplog


@pytest.fixture
async def cluster(
    request: pytest.FixtureRequest,
    nursery: trio.Nursery,
    shared_store: Path,
    haproxy: StartHAProxy,
) -> Cluster:
    """Nodes A and B behind HAProxy; ``relayed`` data connections unless parametrized."""
    mode = getattr(request, "param", "relayed")
    return await start_cluster(nursery, haproxy, shared_store_handler(shared_store), mode)


def ftp_from(source: str, address: tuple[str, int], *, direct: bool = False) -> ftplib.FTP:
    """An ftplib client from the local address *source* (data connections too), logged in.

    *direct*: data connections to the address PASV names (ftplib's default is
    the control connection's peer, the balancer).
    """
    ftp = ftplib.FTP(timeout=10, source_address=(source, 0))
    ftp.trust_server_pasv_ipv4_address = direct
    ftp.connect(*address)
    ftp.login(USER, PASSWORD)
    return ftp


async def in_thread(function: Callable[[], T]) -> T:
    return await trio.to_thread.run_sync(function)


def pasv_address(ftp: ftplib.FTP) -> tuple[str, int]:
    match = PASV_REPLY.fullmatch(ftp.sendcmd("PASV"))
    assert match, "no PASV reply"
    h1, h2, h3, h4, p1, p2 = match.groups()
    return f"{h1}.{h2}.{h3}.{h4}", int(p1) * 256 + int(p2)


def mlsd_names(ftp: ftplib.FTP) -> list[tuple[str, str, str]]:
    """Name, type and size (files) of the entries MLSD lists, without ``.``."""
    return sorted(
        (name, facts["type"], facts["size"] if facts["type"] == "file" else "")
        for name, facts in ftp.mlsd()
        if facts["type"] in ("file", "dir")
    )


# --- the tests


def upload_through_a(cluster: Cluster, data: bytes) -> list[tuple[str, str, str]]:
    """As client 127.0.0.2 through node A: MKD, two uploads; the MLSD listing after."""
    with ftp_from("127.0.0.2", cluster.frontend("a"), direct=cluster.mode == "direct") as ftp:
        host, port = pasv_address(ftp)
        assert host == cluster.nodes["a"].public_address
        assert port in cluster.nodes["a"].passive_ports
        ftp.mkd("reports")
        ftp.storbinary("STOR reports/q3.bin", io.BytesIO(data))
        ftp.storbinary("STOR notes.txt", io.BytesIO(b"written through node A\n"))
        listing = mlsd_names(ftp)
        ftp.quit()
    return listing


def download_through_b(cluster: Cluster) -> tuple[bytes, list[tuple[str, str, str]], list[str]]:
    """As client 127.0.0.2 through node B: the upload's bytes, MLSD and NLST listings."""
    with ftp_from("127.0.0.2", cluster.frontend("b"), direct=cluster.mode == "direct") as ftp:
        host, port = pasv_address(ftp)
        assert host == cluster.nodes["b"].public_address
        assert port in cluster.nodes["b"].passive_ports
        received = io.BytesIO()
        ftp.retrbinary("RETR reports/q3.bin", received.write)
        listing = mlsd_names(ftp)
        nested = ftp.nlst("reports")
        ftp.quit()
    return received.getvalue(), listing, nested


SHARED_LISTING = [("notes.txt", "file", "23"), ("reports", "dir", "")]


@pytest.mark.parametrize("cluster", ["relayed", "direct"], indirect=True)
async def test_upload_through_one_node_download_through_the_other(
    cluster: Cluster, shared_store: Path, node_log: pytest.LogCaptureFixture
) -> None:
    data = random.Random(12).randbytes(700_000)
    listing_a = await in_thread(lambda: upload_through_a(cluster, data))
    received, listing_b, nested = await in_thread(lambda: download_through_b(cluster))
    assert received == data
    assert (shared_store / "reports" / "q3.bin").read_bytes() == data
    assert listing_a == listing_b == SHARED_LISTING
    assert nested == ["q3.bin"]
    # Each node saw the client's own address, not HAProxy's.
    assert "127.0.0.2" in cluster.nodes["a"].sessions.clients
    assert "127.0.0.2" in cluster.nodes["b"].sessions.clients
    logins = [m for m in node_log.messages if m.endswith("USER 'user' logged in.")]
    assert len(logins) == 2
    assert all(m.startswith("127.0.0.2:") for m in logins)
    assert [r.getMessage() for r in node_log.records if r.levelno >= logging.WARNING] == []


async def test_two_nodes_share_one_s3_bucket(
    nursery: trio.Nursery,
    haproxy: StartHAProxy,
    s3: S3Endpoint,
    tmp_path: Path,
    node_log: pytest.LogCaptureFixture,
) -> None:
    """The shared store is an S3 bucket (moto's server): what one node writes, the other serves."""
    bucket = s3.new_bucket()
    cluster = await start_cluster(nursery, haproxy, bucket_handler(s3, bucket, tmp_path), "relayed")
    data = random.Random(13).randbytes(700_000)
    listing_a = await in_thread(lambda: upload_through_a(cluster, data))
    received, listing_b, nested = await in_thread(lambda: download_through_b(cluster))
    assert received == data
    assert s3.filesystem().cat_file(f"{bucket}/reports/q3.bin") == data
    assert listing_a == listing_b == SHARED_LISTING
    assert nested == ["q3.bin"]
    assert "127.0.0.2" in cluster.nodes["a"].sessions.clients
    assert "127.0.0.2" in cluster.nodes["b"].sessions.clients
    assert [r.getMessage() for r in node_log.records if r.levelno >= logging.WARNING] == []


async def test_curl_through_the_balancer_only(
    cluster: Cluster, shared_store: Path, curl_binary: str, workdir: Path
) -> None:
    # curl opens data connections with EPSV to the address it connected to: the balancer.
    data = random.Random(13).randbytes(300_000)
    (workdir / "up.bin").write_bytes(data)

    def url(node: str, path: str) -> str:
        host, port = cluster.frontend(node)
        return f"ftp://{USER}:{PASSWORD}@{host}:{port}/{path}"

    def curl(*args: str) -> Any:
        return run_curl(curl_binary, "--interface", "127.0.0.3", *args, cwd=workdir)

    uploaded = await in_thread(
        lambda: curl("-T", "up.bin", "--ftp-create-dirs", url("a", "in/up.bin"))
    )
    assert_ok(uploaded)
    assert "EPSV" in curl_commands(uploaded)
    downloaded = await in_thread(lambda: curl("-o", "down.bin", url("b", "in/up.bin")))
    assert_ok(downloaded)
    assert (workdir / "down.bin").read_bytes() == data
    assert (shared_store / "in" / "up.bin").read_bytes() == data
    assert cluster.nodes["a"].sessions.clients.count("127.0.0.3") == 1
    assert cluster.nodes["b"].sessions.clients.count("127.0.0.3") == 1


async def test_per_ip_limit_counts_clients_not_the_load_balancer(cluster: Cluster) -> None:
    # max_cons_per_ip = 1 on every node; every connection comes from HAProxy's address.
    frontend = cluster.frontend("a")
    first = await in_thread(lambda: ftp_from("127.0.0.2", frontend))
    with pytest.raises(ftplib.error_temp, match=r"^421 Too many connections from the same IP"):
        await in_thread(lambda: ftp_from("127.0.0.2", frontend))
    other = await in_thread(lambda: ftp_from("127.0.0.3", frontend))
    assert await in_thread(lambda: other.sendcmd("NOOP")) == "200 I successfully did nothing."
    assert await in_thread(lambda: first.sendcmd("NOOP")) == "200 I successfully did nothing."
    # (A health check in progress counts as HAProxy's own address.)
    clients = [ip for ip in cluster.nodes["a"].server.ip_map if ip != BALANCER]
    assert sorted(clients) == ["127.0.0.2", "127.0.0.3"]
    for ftp in (first, other):
        await in_thread(ftp.quit)


async def test_health_checks_send_proxy_and_log_no_error(
    cluster: Cluster, node_log: pytest.LogCaptureFixture
) -> None:
    # Let HAProxy check each node a few more times.
    sessions = cluster.nodes["a"].sessions
    with trio.fail_after(30):
        await sessions.wait_for(len(sessions.clients) + 3)
    servers = await cluster.balancer.servers()
    assert {name: state for name, state in servers.items() if name.startswith("ftp_")} == {
        "ftp_a/ftp_a_0": ("UP", "L7OK"),
        "ftp_b/ftp_b_0": ("UP", "L7OK"),
    }
    # A check is a PROXY v2 LOCAL header, then the FTP greeting and QUIT: a session of
    # HAProxy's own address that logs like any other, and no warning.
    for node in cluster.nodes.values():
        assert set(node.sessions.clients) == {BALANCER}
    assert [r.getMessage() for r in node_log.records if r.levelno >= logging.WARNING] == []
    opened = [m for m in node_log.messages if m.endswith("-[] FTP session opened (connect)")]
    assert len(opened) >= 3
    assert all(m.startswith(f"{BALANCER}:") for m in opened)


async def test_lftp_through_the_balancer_only(
    cluster: Cluster, shared_store: Path, lftp_binary: str, workdir: Path
) -> None:
    # lftp uses PASV and its address: the balancer's, which relays the node's range.
    data = random.Random(14).randbytes(200_000)
    (workdir / "up.bin").write_bytes(data)

    def lftp(node: str, script: str) -> Any:
        host, port = cluster.frontend(node)
        return run_lftp(
            lftp_binary,
            "set ftp:ssl-allow no; set net:socket-bind-ipv4 127.0.0.3",
            f"-u {USER},{PASSWORD} ftp://{host}:{port}",
            script,
            cwd=workdir,
            timeout=30,
        )

    uploaded = await in_thread(lambda: lftp("a", "put up.bin -o lftp.bin"))
    assert_ok(uploaded)
    assert any(command.startswith("PASV") for command in lftp_commands(uploaded))
    downloaded = await in_thread(lambda: lftp("b", "get lftp.bin -o down.bin; cls -1"))
    assert_ok(downloaded)
    assert (workdir / "down.bin").read_bytes() == data
    assert (shared_store / "lftp.bin").read_bytes() == data
    assert downloaded.stdout.decode().split() == ["lftp.bin"]
    assert "127.0.0.3" in cluster.nodes["a"].sessions.clients
    assert "127.0.0.3" in cluster.nodes["b"].sessions.clients


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


async def test_implicit_ftps_behind_haproxy(
    nursery: trio.Nursery,
    shared_store: Path,
    haproxy: StartHAProxy,
    certs: Certs,
    node_log: pytest.LogCaptureFixture,
) -> None:
    # The PROXY header comes first, then the TLS handshake (HAProxy relays TLS
    # untouched); the health check does the same (check-send-proxy, check-ssl).
    handler = shared_store_handler(
        shared_store,
        base=TLS_FTPHandler,
        certfile=certs.certfile,
        keyfile=certs.keyfile,
        tls_implicit=True,
    )
    ports = free_port_range(5)
    node = await start_node(nursery, handler, "127.0.0.11", ports, BALANCER)
    balancer = await haproxy(
        {"ftps": [node.server.address]}, check_ssl=True, passive={"data": (ports, "127.0.0.11")}
    )
    await balancer.wait_until_checked()
    (shared_store / "a.bin").write_bytes(b"over TLS" * 1000)
    client, greeting = await TLSClient.open(
        *balancer.frontends["ftps"], client_context(certs.ca), implicit=True
    )
    assert greeting.code == 220
    assert (await client.login()).code == 230
    assert (await client.cmd("TYPE I")).code == 200
    _, received, final = await client.download("RETR a.bin")
    assert received == b"over TLS" * 1000
    assert final.first == "226 Transfer complete."
    # HAProxy relayed the control and the data connection, each with the client's address.
    client_port = client.transport.socket.getsockname()[1]
    assert f"127.0.0.1:{client_port}-[user] USER 'user' logged in." in node_log.messages
    assert [r.getMessage() for r in node_log.records if r.levelno >= logging.WARNING] == []
    await client.aclose()
