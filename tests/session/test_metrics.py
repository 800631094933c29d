"""Prometheus metrics: an observer of the sessions' events, scraped over HTTP."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import prometheus_client
import pytest
import trio

from trioftp.handlers import TLS_FTPHandler
from trioftp.servers import FTPServer
from trioftp.servers.metrics import PrometheusMetrics, command_label
from trioftp.session.events import Observer

from ..support.ftpclient import FTPClient
from ..support.servers import make_handler
from ..support.tlsclient import Certs, client_context, make_certs


class Ended(Observer):
    """Sets an event when a session ends."""

    def __init__(self) -> None:
        self.event = trio.Event()

    def disconnected(self, remote_ip: str) -> None:
        self.event.set()


def scrape(address: tuple[str, int]) -> list[str]:
    """GET /metrics; the sample lines, without comments and ``_created`` timestamps."""
    host, port = address
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    return [
        line
        for line in text.splitlines()
        if line and not line.startswith("#") and "_created" not in line
    ]


def samples(lines: list[str], name: str) -> list[str]:
    return sorted(line for line in lines if line.split("{")[0].split(" ")[0] == name)


async def test_metrics_after_a_known_session(nursery: trio.Nursery, home: Path) -> None:
    (home / "a.txt").write_bytes(b"12345")
    server = FTPServer(("127.0.0.1", 0), make_handler(home))
    metrics = PrometheusMetrics.for_server(server)
    ended = Ended()
    server.add_observer(ended)
    endpoint = metrics.serve("127.0.0.1", 0)
    try:
        host, port = await nursery.start(server.serve)
        client, greeting = await FTPClient.connect(host, port)
        assert greeting.code == 220
        assert (await client.cmd("USER user")).code == 331
        assert (await client.cmd("PASS wrong")).code == 530
        assert (await client.login()).code == 230
        assert (await client.cmd("TYPE I")).code == 200
        data, reply = await client.retr("a.txt")
        assert (data, reply.code) == (b"12345", 226)
        assert (await client.stor("b.bin", b"y" * 300)).code == 226
        assert (await client.cmd("MKD d")).code == 257
        assert (await client.cmd("XYZZY")).code == 500
        lines = await trio.to_thread.run_sync(scrape, endpoint.address)
        assert samples(lines, "trioftp_sessions") == ["trioftp_sessions 1.0"]
        assert (await client.cmd("QUIT")).code == 221
        await ended.event.wait()
        lines = await trio.to_thread.run_sync(scrape, endpoint.address)
    finally:
        await trio.to_thread.run_sync(endpoint.close)
    assert samples(lines, "trioftp_sessions") == ["trioftp_sessions 0.0"]
    assert samples(lines, "trioftp_sessions_opened_total") == ["trioftp_sessions_opened_total 1.0"]
    assert samples(lines, "trioftp_logins_total") == [
        'trioftp_logins_total{outcome="failure"} 1.0',
        'trioftp_logins_total{outcome="success"} 1.0',
    ]
    assert samples(lines, "trioftp_commands_total") == sorted(
        [
            'trioftp_commands_total{code="331",command="USER"} 2.0',
            'trioftp_commands_total{code="530",command="PASS"} 1.0',
            'trioftp_commands_total{code="230",command="PASS"} 1.0',
            'trioftp_commands_total{code="200",command="TYPE"} 1.0',
            'trioftp_commands_total{code="227",command="PASV"} 2.0',
            'trioftp_commands_total{code="226",command="RETR"} 1.0',
            'trioftp_commands_total{code="226",command="STOR"} 1.0',
            'trioftp_commands_total{code="257",command="MKD"} 1.0',
            'trioftp_commands_total{code="500",command="other"} 1.0',
            'trioftp_commands_total{code="221",command="QUIT"} 1.0',
        ]
    )
    assert samples(lines, "trioftp_transfers_total") == [
        'trioftp_transfers_total{direction="received",outcome="completed"} 1.0',
        'trioftp_transfers_total{direction="received",outcome="failed"} 0.0',
        'trioftp_transfers_total{direction="sent",outcome="completed"} 1.0',
        'trioftp_transfers_total{direction="sent",outcome="failed"} 0.0',
    ]
    assert samples(lines, "trioftp_transfer_bytes_total") == [
        'trioftp_transfer_bytes_total{direction="received",outcome="completed"} 300.0',
        'trioftp_transfer_bytes_total{direction="received",outcome="failed"} 0.0',
        'trioftp_transfer_bytes_total{direction="sent",outcome="completed"} 5.0',
        'trioftp_transfer_bytes_total{direction="sent",outcome="failed"} 0.0',
    ]
    assert samples(lines, "trioftp_transfer_duration_seconds_count") == [
        'trioftp_transfer_duration_seconds_count{direction="received"} 1.0',
        'trioftp_transfer_duration_seconds_count{direction="sent"} 1.0',
    ]
    assert 'trioftp_transfer_duration_seconds_bucket{direction="sent",le="+Inf"} 1.0' in lines
    assert samples(lines, "trioftp_transfers_in_progress") == ["trioftp_transfers_in_progress 0.0"]
    assert samples(lines, "trioftp_blocking_calls_in_progress") == [
        "trioftp_blocking_calls_in_progress 0.0"
    ]
    assert samples(lines, "trioftp_tls_handshakes_total") == [
        'trioftp_tls_handshakes_total{channel="control",outcome="failure"} 0.0',
        'trioftp_tls_handshakes_total{channel="control",outcome="success"} 0.0',
        'trioftp_tls_handshakes_total{channel="data",outcome="failure"} 0.0',
        'trioftp_tls_handshakes_total{channel="data",outcome="success"} 0.0',
    ]
    # The same figures for programs.
    statistics = server.statistics()
    assert (statistics.sessions_total, statistics.logins, statistics.failed_logins) == (1, 1, 1)
    assert (statistics.bytes_received, statistics.bytes_sent, statistics.transfers) == (300, 5, 2)
    assert statistics.replies == {331: 2, 530: 1, 230: 1, 200: 1, 227: 2, 226: 2, 257: 1,
                                  500: 1, 221: 1}  # fmt: skip


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


async def test_tls_handshakes_are_counted(nursery: trio.Nursery, home: Path, certs: Certs) -> None:
    handler = make_handler(
        home, base=TLS_FTPHandler, certfile=certs.certfile, keyfile=certs.keyfile
    )
    server = FTPServer(("127.0.0.1", 0), handler)
    metrics = PrometheusMetrics.for_server(server)
    ended = Ended()
    server.add_observer(ended)
    host, port = await nursery.start(server.serve)
    # One good handshake...
    client, _ = await FTPClient.connect(host, port)
    assert (await client.cmd("AUTH TLS")).code == 234
    tls = trio.SSLStream(client.stream, client_context(certs.ca), server_hostname="localhost")
    await tls.do_handshake()
    await tls.aclose()
    await ended.event.wait()
    # ...and one client that speaks no TLS after AUTH TLS.
    ended.event = trio.Event()
    client, _ = await FTPClient.connect(host, port)
    assert (await client.cmd("AUTH TLS")).code == 234
    await client.send_raw(b"\x00" * 64)
    assert await client.at_eof()
    await ended.event.wait()
    text = metrics.exposition().decode()
    assert 'trioftp_tls_handshakes_total{channel="control",outcome="success"} 1.0' in text
    assert 'trioftp_tls_handshakes_total{channel="control",outcome="failure"} 1.0' in text
    statistics = server.statistics()
    assert (statistics.tls_handshakes, statistics.failed_tls_handshakes) == (1, 1)


def test_each_metrics_object_has_its_own_registry() -> None:
    first, second = PrometheusMetrics(), PrometheusMetrics()
    first.logged_in("a")
    assert first.registry is not second.registry
    assert first.registry is not prometheus_client.REGISTRY
    assert b'trioftp_logins_total{outcome="success"} 1.0' in first.exposition()
    assert b'trioftp_logins_total{outcome="success"} 0.0' in second.exposition()


def test_command_labels_are_bounded() -> None:
    assert command_label("RETR") == "RETR"
    assert command_label("SITE CHMOD") == "SITE CHMOD"
    assert command_label("AUTH") == "AUTH"
    assert command_label("GET") == "other"
    assert command_label("X" * 500) == "other"
