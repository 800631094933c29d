"""What the PROXY protocol costs: parsing a header, a login with one, a login through HAProxy.

* ``parse``: microseconds per :func:`~trioftp.protocol.proxyheader.parse_proxy_header`
  call, for a version 1 TCP4 line and a version 2 TCP6 header with a TLV;
* ``cpu``: CPU microseconds per login session (connect, greeting, USER, PASS,
  QUIT) over loopback, server and client in one process with no threads
  (``InlineRunner``): from an untrusted address without a header, and from
  a trusted one with a PROXY v2 header. CPU time, so it holds on a busy
  machine; the difference is what reading the header costs the server
  (and the client its one extra send);
* ``logins``: logins per second, one client after another (connect, greeting,
  USER, PASS, QUIT) for *seconds*, from 127.0.0.2: straight to a trioftp
  node, through HAProxy on 127.0.0.1 in TCP mode without the PROXY protocol,
  and through HAProxy with ``send-proxy-v2`` to a node that trusts it, in
  alternating rounds; the medians and their ratios to the direct figure.
  The difference between the two HAProxy figures is the PROXY protocol's.

Needs ``haproxy`` (Debian package) for ``logins``; these are wall-clock
figures that a loaded machine (HAProxy is one more process wanting a CPU)
distorts, so compare them only from a quiet one.

    python -m benchmarks.proxy_cost --sessions 2000 --seconds 3 --rounds 5
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import trio

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler
from trioftp.protocol.proxyheader import V2_SIGNATURE, parse_proxy_header
from trioftp.servers import FTPServer
from trioftp.session.runner import InlineRunner

V1_LINE = b"PROXY TCP4 203.0.113.7 198.51.100.1 51234 21\r\n"
V2_TCP6 = (
    V2_SIGNATURE
    + b"\x21\x21"
    + struct.pack("!H", 36 + 7)
    + ipaddress.IPv6Address("2001:db8::7").packed
    + ipaddress.IPv6Address("2001:db8::1").packed
    + struct.pack("!HH", 51234, 21)
    + b"\x04\x00\x04pad!"
)


def parse_cost(number: int = 100_000) -> dict[str, float]:
    """Microseconds per parse of each header kind (best of 3)."""
    costs = {}
    for name, header in (("v1 TCP4", V1_LINE), ("v2 TCP6+TLV", V2_TCP6)):
        best = min(timeit.repeat(lambda h=header: parse_proxy_header(h), number=number, repeat=3))
        costs[name] = best / number * 1e6
    return costs


def _v2_tcp4(source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    return (
        V2_SIGNATURE
        + b"\x21\x11\x00\x0c"
        + ipaddress.IPv4Address(source[0]).packed
        + ipaddress.IPv4Address(destination[0]).packed
        + struct.pack("!HH", source[1], destination[1])
    )


async def _trio_login(address: tuple[str, int], source: str, header: bytes) -> None:
    sock = trio.socket.socket()
    await sock.bind((source, 0))
    await sock.connect(address)
    stream = trio.SocketStream(sock)
    async with stream:
        if header:
            await stream.send_all(header)
        pending = b""
        for command, code in ((b"", b"220 "), (b"USER bench", b"331 "), (b"PASS bench", b"230 "),
                              (b"QUIT", b"221 ")):  # fmt: skip
            if command:
                await stream.send_all(command + b"\r\n")
            while not pending.startswith(code) or b"\r\n" not in pending:
                pending += await stream.receive_some(4096)
            pending = pending.partition(b"\r\n")[2]


async def _cpu_per_login(home: str, sessions: int) -> dict[str, float]:
    server = FTPServer(("127.0.0.1", 0), _bench_handler(home), runner=InlineRunner())
    server.proxy_protocol_from = ["127.0.0.1"]
    header = _v2_tcp4(("203.0.113.7", 51234), ("198.51.100.1", 21))
    figures = {}
    async with trio.open_nursery() as nursery:
        address = await nursery.start(server.serve)
        for name, source, sent in (("no header", CLIENT, b""), ("PROXY v2", "127.0.0.1", header)):
            start = time.process_time()
            for _ in range(sessions):
                await _trio_login(address, source, sent)
            figures[name] = (time.process_time() - start) / sessions * 1e6
        nursery.cancel_scope.cancel()
    server.socket.close()
    return figures


def _bench_handler(home: str) -> type[FTPHandler]:
    authorizer = DummyAuthorizer()
    authorizer.add_user("bench", "bench", home, perm="elr")
    return type("BenchHandler", (FTPHandler,), {"authorizer": authorizer, "auth_failed_timeout": 0})


def _read_reply(sock: socket.socket, buffer: bytearray) -> bytes:
    while b"\r\n" not in buffer:
        data = sock.recv(4096)
        if not data:
            raise ConnectionError("closed before a reply")
        buffer += data
    line, _, rest = bytes(buffer).partition(b"\r\n")
    buffer[:] = rest
    return line


#: The client's address (the node trusts only HAProxy's, 127.0.0.1).
CLIENT = "127.0.0.2"


def _one_login(address: tuple[str, int]) -> None:
    with socket.create_connection(address, timeout=10, source_address=(CLIENT, 0)) as sock:
        buffer = bytearray()
        replies = [_read_reply(sock, buffer)]
        for command in (b"USER bench", b"PASS bench", b"QUIT"):
            sock.sendall(command + b"\r\n")
            replies.append(_read_reply(sock, buffer))
        codes = [reply[:3] for reply in replies]
        if codes != [b"220", b"331", b"230", b"221"]:
            raise RuntimeError(f"unexpected replies {replies!r}")


def logins_per_second(address: tuple[str, int], seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        _one_login(address)
        done += 1
    return done / elapsed


@contextmanager
def node(home: str, trusted: list[str]) -> Iterator[tuple[str, int]]:
    """A ``trioftp`` process on 127.0.0.1 that trusts the PROXY header of *trusted*.

    Its own process, so that the client's loop and the server's do not share
    one interpreter lock.
    """
    command = [sys.executable, "-m", "trioftp", "-p", "0", "-d", home, "-u", "bench", "-P", "bench"]
    if trusted:
        command += ["--proxy-protocol-from", ",".join(trusted)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        found = re.search(r"ftp://127\.0\.0\.1:(\d+)/", process.stdout.readline())
        if found is None:
            raise RuntimeError("trioftp did not start")
        yield ("127.0.0.1", int(found.group(1)))
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def haproxy(
    plain: tuple[str, int], proxied: tuple[str, int], directory: Path
) -> Iterator[tuple[tuple[str, int], tuple[str, int]]]:
    """HAProxy relaying one free port to *plain*, another to *proxied* with ``send-proxy-v2``."""
    binary = shutil.which(
        "haproxy", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"])
    )
    if binary is None:
        raise SystemExit("haproxy is not installed (apt-get install haproxy)")
    ports = _free_port(), _free_port()
    config = directory / "haproxy.cfg"
    config.write_text(
        "defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 60s\n"
        "    timeout server 60s\n"
        f"frontend plain\n    bind 127.0.0.1:{ports[0]}\n    default_backend plain\n"
        f"backend plain\n    server node {plain[0]}:{plain[1]}\n"
        f"frontend proxied\n    bind 127.0.0.1:{ports[1]}\n    default_backend proxied\n"
        f"backend proxied\n    server node {proxied[0]}:{proxied[1]} send-proxy-v2\n"
    )
    process = subprocess.Popen(
        [binary, "-f", str(config), "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                for port in ports:
                    _one_login(("127.0.0.1", port))
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield ("127.0.0.1", ports[0]), ("127.0.0.1", ports[1])
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--parses", type=int, default=100_000, help="parses per timing")
    parser.add_argument("--sessions", type=int, default=2000, help="logins per CPU timing")
    options = parser.parse_args()
    logging.getLogger("trioftp").setLevel(logging.WARNING)
    for name, cost in parse_cost(options.parses).items():
        print(f"parse {name}: {cost:.2f} us")
    with tempfile.TemporaryDirectory() as scratch:
        rounds = [
            trio.run(_cpu_per_login, scratch, options.sessions) for _ in range(options.rounds)
        ]
    best = {name: min(r[name] for r in rounds) for name in rounds[0]}
    print(
        f"CPU per login session (best of {options.rounds} rounds): "
        f"no header {best['no header']:.0f} us, PROXY v2 {best['PROXY v2']:.0f} us "
        f"(+{best['PROXY v2'] - best['no header']:.0f} us)"
    )
    figures: dict[str, list[float]] = {"direct": [], "HAProxy": [], "HAProxy + PROXY v2": []}
    with (
        tempfile.TemporaryDirectory() as scratch,
        node(scratch, []) as plain,
        node(scratch, ["127.0.0.1"]) as trusting,
        haproxy(plain, trusting, Path(scratch)) as (via_plain, via_proxy),
    ):
        for _ in range(options.rounds):
            for name, address in zip(figures, (plain, via_plain, via_proxy), strict=True):
                figures[name].append(logins_per_second(address, options.seconds))
    medians = {name: statistics.median(values) for name, values in figures.items()}
    print(f"logins/s, one client, medians of {options.rounds} rounds:")
    for name, median in medians.items():
        print(f"  {name}: {median:.0f} ({median / medians['direct']:.2f}x direct)")


if __name__ == "__main__":
    main()
