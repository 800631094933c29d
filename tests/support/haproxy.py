"""HAProxy on loopback in front of test servers: the ``haproxy`` fixture.

``start = haproxy`` then ``balancer = await start({"ftp_a": [node_a], ...})``
writes a configuration to a temporary directory and runs ``haproxy -f CFG
-db`` (foreground) until the test ends. Each route becomes a frontend on a
free loopback port and a backend of the given servers, in TCP mode, with
``send-proxy-v2`` (a PROXY v2 header before each relayed connection) and an
FTP health check that sends the PROXY header too (``check-send-proxy``): it
expects the ``220`` greeting, says ``QUIT`` and expects ``221``.
:meth:`HAProxy.wait_until_checked` waits until every server passed a check,
read from HAProxy's stats socket.

``passive={"data_a": (ports, "127.0.0.11"), ...}`` relays a node's passive
port range too: HAProxy listens on those ports of 127.0.0.1 and forwards
each to the same port of the node, with a PROXY header, unchecked (nothing
listens there until a client asks for a data connection).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import random
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import attrs
import pytest
import trio

Address = tuple[str, int]

#: Seconds between two health checks of a server.
CHECK_INTERVAL = 0.3
#: Seconds to wait for haproxy to start, and for its checks to pass.
WAIT_LIMIT = 30


def haproxy_binary() -> str:
    """The ``haproxy`` program (in ``/usr/sbin`` on Debian, maybe not on PATH)."""
    path = shutil.which("haproxy", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
    if path is None:
        pytest.fail("haproxy is not installed (run scripts/test.sh, or apt-get install haproxy)")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_port_range(count: int, host: str = "127.0.0.1") -> range:
    """*count* consecutive ports free on *host*, below Linux's ephemeral ports."""
    for _ in range(100):
        first = random.randrange(20000, 32000 - count)
        ports = range(first, first + count)
        if all(_bindable(host, port) for port in ports):
            return ports
    raise RuntimeError("no free port range")


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as sock, contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        return True
    return False


#: A relayed passive port range: the ports, and the node that listens on them.
PassiveRoute = tuple[range, str]


def haproxy_config(
    frontends: Mapping[str, Address],
    backends: Mapping[str, Sequence[Address]],
    stats: Path,
    *,
    check: bool = True,
    check_ssl: bool = False,
    passive: Mapping[str, PassiveRoute] | None = None,
) -> str:
    """An HAProxy configuration: frontend *name* on its address -> backend *name*.

    With *check*, each server gets the FTP health check, PROXY header included
    (over TLS after the header with *check_ssl*: implicit FTPS).
    Each *passive* route relays its port range of 127.0.0.1 to the same ports
    of its node.
    """
    lines = [
        "global",
        # Without it two processes can bind one port and share its connections.
        "    noreuseport",
        "    log stdout format raw local0 info",
        f"    stats socket {stats} mode 600 level admin",
        "defaults",
        "    mode tcp",
        "    log global",
        "    option tcplog",
        "    timeout connect 5s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout check 5s",
    ]
    for name, (host, port) in frontends.items():
        lines += [
            f"frontend {name}",
            f"    bind {host}:{port}",
            f"    default_backend {name}",
        ]
    for name, servers in backends.items():
        lines += [f"backend {name}", "    balance roundrobin"]
        if check:
            lines += [
                # No explicit "tcp-check connect": HAProxy (2.6) sends the PROXY
                # header only on the implicit connect (or on "connect send-proxy").
                "    option tcp-check",
                "    tcp-check expect rstring ^220",
                r"    tcp-check send QUIT\r\n",
                "    tcp-check expect rstring ^221",
            ]
        checks = f" check check-send-proxy inter {int(CHECK_INTERVAL * 1000)}ms rise 1 fall 2"
        if check_ssl:
            checks += " check-ssl verify none"
        lines += [
            f"    server {name}_{index} {host}:{port} send-proxy-v2{checks if check else ''}"
            for index, (host, port) in enumerate(servers)
        ]
    for name, (ports, node) in (passive or {}).items():
        lines += [
            f"frontend {name}",
            f"    bind 127.0.0.1:{ports.start}-{ports.stop - 1}",
            f"    default_backend {name}",
            f"backend {name}",
            # No port: the same port the client connected to.
            f"    server {name} {node} send-proxy-v2",
        ]
    return "\n".join(lines) + "\n"


@attrs.define
class HAProxy:
    """A running haproxy: its frontends' addresses and its stats socket."""

    frontends: dict[str, Address]
    stats: Path
    log: Path
    process: trio.Process

    async def stat(self) -> list[dict[str, str]]:
        """HAProxy's ``show stat``: one row per frontend, server and backend."""
        stream = await trio.open_unix_socket(str(self.stats))
        async with stream:
            await stream.send_all(b"show stat\n")
            received = bytearray()
            while data := await stream.receive_some(65536):
                received += data
        text = received.decode().removeprefix("# ")
        return list(csv.DictReader(io.StringIO(text)))

    async def servers(self) -> dict[str, tuple[str, str]]:
        """``backend/server`` -> (status, last check status) of every server."""
        # "* L7OK": the last result, while the next check is running.
        return {
            f"{row['pxname']}/{row['svname']}": (
                row["status"],
                row["check_status"].removeprefix("* "),
            )
            for row in await self.stat()
            if row["svname"] not in ("FRONTEND", "BACKEND")
        }

    async def wait_until_checked(self) -> dict[str, tuple[str, str]]:
        """Wait until every checked server is UP after a passed check; return their states."""
        with trio.fail_after(WAIT_LIMIT):
            while True:
                servers = {
                    name: state
                    for name, state in (await self.servers()).items()
                    if state[0] != "no check"
                }
                if all(state == ("UP", "L7OK") for state in servers.values()):
                    return servers
                await trio.sleep(CHECK_INTERVAL / 3)


#: ``await start(routes, check=True, check_ssl=False, passive=None)``: see :func:`haproxy`.
StartHAProxy = Callable[..., Awaitable[HAProxy]]


async def _wait_for_stats(balancer: HAProxy) -> None:
    """Wait until haproxy answers on its stats socket (every listener is bound by then)."""
    with trio.fail_after(WAIT_LIMIT):
        while True:
            if balancer.process.returncode is not None:
                raise RuntimeError(f"haproxy exited:\n{balancer.log.read_text()}")
            try:
                await balancer.stat()
            except OSError:
                await trio.sleep(0.05)
            else:
                return


@pytest.fixture
async def haproxy(tmp_path: Path) -> AsyncIterator[StartHAProxy]:
    """Start HAProxy with ``await haproxy({"frontend": [server, ...], ...})``; stopped after.

    ``check=False`` leaves the health checks out, ``check_ssl=True`` makes
    them speak TLS after the PROXY header (implicit FTPS); ``passive`` relays
    passive port ranges (see the module's documentation).
    """
    binary = haproxy_binary()
    running: list[HAProxy] = []
    # The stats socket's path must stay short (108 bytes), whatever tmp_path is.
    sockets = Path(tempfile.mkdtemp(prefix="haproxy-", dir="/tmp"))

    async def start(
        routes: Mapping[str, Sequence[Address]],
        *,
        check: bool = True,
        check_ssl: bool = False,
        passive: Mapping[str, PassiveRoute] | None = None,
    ) -> HAProxy:
        for attempt in range(3):  # a free port may be taken before HAProxy binds it
            directory = tmp_path / f"haproxy{len(running)}-{attempt}"
            directory.mkdir()
            frontends = {name: ("127.0.0.1", free_port()) for name in routes}
            stats = sockets / f"stats{len(running)}-{attempt}.sock"
            log, config = directory / "log", directory / "cfg"
            config.write_text(
                haproxy_config(
                    frontends, routes, stats, check=check, check_ssl=check_ssl, passive=passive
                )
            )
            with log.open("wb") as output:
                process = await trio.lowlevel.open_process(
                    [binary, "-f", str(config), "-db"], stdout=output, stderr=subprocess.STDOUT
                )
            balancer = HAProxy(frontends, stats, log, process)
            running.append(balancer)
            try:
                await _wait_for_stats(balancer)
            except RuntimeError:
                if attempt == 2 or "Address already in use" not in log.read_text():
                    raise
                continue
            return balancer
        raise AssertionError("unreachable")

    yield start
    for balancer in running:
        balancer.process.terminate()
        with trio.move_on_after(10):
            await balancer.process.wait()
        if balancer.process.returncode is None:
            balancer.process.kill()
            await balancer.process.wait()
    shutil.rmtree(sockets, ignore_errors=True)
