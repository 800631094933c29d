"""Server CPU per operation: per command, per login (plain and FTPS), per short session.

Wall-clock figures on a shared machine are noise; the server's own CPU time
(``/proc/<pid>/stat``, user + system) per operation is not, as long as the
client waits for each reply (then the server runs only for the operation).
This runs trioftp and pyftpdlib alternately, each round on fresh servers:

* one session sending NOOP, PWD, ``SIZE small.bin``, ``CWD /`` - each
  command *--commands* times in a row;
* *--logins* logins one after another (connect, USER, PASS, QUIT), plain and
  with AUTH TLS first;
* *--sessions* short sessions at once (login, TYPE I, LIST, RETR of 10 KiB,
  QUIT: the ``burst`` workload).

    python -m benchmarks.server_cpu [--rounds 3] [--only trioftp]
"""

from __future__ import annotations

import argparse
import socket
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path

from trioftp.tls.certificates import self_signed_certificate

from .client import Session
from .rounds import run_rounds
from .run import IMPLEMENTATIONS, _raise_fd_limit, server
from .workloads import Bench, Sizes, burst

COMMANDS = ("NOOP", "PWD", "SIZE small.bin", "CWD /")


def bare_login(port: int, tls: ssl.SSLContext | None) -> None:
    """Connect, (AUTH TLS,) USER, PASS, QUIT: the bare login of ftpbench's login-rate."""
    with socket.create_connection(("127.0.0.1", port)) as raw:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock: socket.socket = raw
        replies = sock.makefile("rb")

        def command(line: bytes, code: bytes) -> None:
            sock.sendall(line + b"\r\n")
            reply = replies.readline()
            assert reply.startswith(code), reply

        assert replies.readline().startswith(b"220")
        if tls is not None:
            command(b"AUTH TLS", b"234")
            sock = tls.wrap_socket(raw, server_hostname="127.0.0.1")
            replies = sock.makefile("rb")
        command(b"USER bench", b"331")
        command(b"PASS bench", b"230")
        command(b"QUIT", b"221")
        if tls is not None:
            sock.close()


def _per_operation(bench: Bench, count: int, operation: Callable[[], object]) -> float:
    """Server CPU microseconds per call of *operation* (after a few warm-up calls)."""
    for _ in range(min(20, count)):
        operation()
    cpu = bench.server_cpu()
    for _ in range(count):
        operation()
    return (bench.server_cpu() - cpu) / count * 1e6


def measure(
    implementation: str,
    home: Path,
    keycert: str,
    client: ssl.SSLContext,
    options: argparse.Namespace,
) -> dict[str, float]:
    """One round of every figure against fresh servers of *implementation*."""
    figures: dict[str, float] = {}
    sizes = Sizes(burst_sessions=options.sessions)
    with server(implementation, home) as (port, pid):
        bench = Bench(port, pid, home, sizes)
        session = Session(port)
        for command in COMMANDS:
            figures[f"{command.split()[0]} us"] = _per_operation(
                bench, options.commands, lambda command=command: session.command(command)
            )
        session.quit()
        figures["login us"] = _per_operation(bench, options.logins, lambda: bare_login(port, None))
        result = burst(bench)
        figures["short session ms"] = result["server CPU ms/session"]
        figures["short sessions failed"] = result["failed"]
    with server(implementation, home, certfile=keycert) as (port, pid):
        bench = Bench(port, pid, home, sizes)
        figures["FTPS login us"] = _per_operation(
            bench, options.logins, lambda: bare_login(port, client)
        )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--commands", type=int, default=2000, help="of each command per round")
    parser.add_argument("--logins", type=int, default=300, help="plain and FTPS, per round")
    parser.add_argument("--sessions", type=int, default=200, help="short sessions at once")
    parser.add_argument("--only", choices=IMPLEMENTATIONS, help="measure one implementation")
    options = parser.parse_args(argv)
    _raise_fd_limit()
    implementations = [options.only] if options.only else list(IMPLEMENTATIONS)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "small.bin").write_bytes(bytes(10240))
        certificate = self_signed_certificate(Path(tmp) / "tls")
        keycert = Path(tmp) / "keycert.pem"
        keycert.write_bytes(certificate.keyfile.read_bytes() + certificate.certfile.read_bytes())
        client = ssl.create_default_context(cafile=str(certificate.certfile))
        client.check_hostname = False
        run_rounds(
            implementations,
            options.rounds,
            lambda implementation: measure(implementation, home, str(keycert), client, options),
            title="server CPU per operation",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
