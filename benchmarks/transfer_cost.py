"""Server CPU of a short transfer's parts: EPSV, LIST of a small directory, RETR of 10 KiB.

The figures behind ftpbench's ``concurrency`` scenario, one operation at a
time: a single client waits for each reply, so the server's own CPU time
(``/proc/<pid>/stat``) per operation is what it spends on it. LIST and RETR
are measured with their EPSV (and the data connection) and printed without
it (the EPSV figure subtracted). trioftp and pyftpdlib run alternately, each
round on fresh servers, with the same home directory (8 entries).

    python -m benchmarks.transfer_cost [--rounds 3] [--count 500] [--only trioftp]
"""

from __future__ import annotations

import argparse
import socket
import tempfile
from pathlib import Path

from .client import Session
from .rounds import run_rounds
from .run import IMPLEMENTATIONS, _raise_fd_limit, server
from .workloads import Bench, Sizes

_SMALL = 10240


def _epsv_only(session: Session) -> None:
    """EPSV, then connect and close: the listener is made, accepted and dropped."""
    conn = session.data()
    conn.close()


def _transfer(session: Session, command: str) -> None:
    conn = session.data()
    reply = session.command(command)
    assert reply[:3] in (b"125", b"150"), reply
    total = 0
    while chunk := conn.recv(1 << 16):
        total += len(chunk)
    conn.close()
    assert session.reply().startswith(b"226")


def measure(implementation: str, home: Path, count: int) -> dict[str, float]:
    """One round against a fresh server of *implementation*: CPU µs per operation."""
    figures: dict[str, float] = {}
    with server(implementation, home) as (port, pid):
        bench = Bench(port, pid, home, Sizes())
        session = Session(port)
        operations = {
            "EPSV": lambda: _epsv_only(session),
            "EPSV+LIST": lambda: _transfer(session, "LIST"),
            "EPSV+RETR": lambda: _transfer(session, "RETR small.bin"),
        }
        for name, operation in operations.items():
            for _ in range(min(20, count)):
                operation()
            cpu = bench.server_cpu()
            for _ in range(count):
                operation()
            figures[name] = (bench.server_cpu() - cpu) / count * 1e6
        session.quit()
    figures["LIST"] = figures.pop("EPSV+LIST") - figures["EPSV"]
    figures["RETR"] = figures.pop("EPSV+RETR") - figures["EPSV"]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=500, help="of each operation per round")
    parser.add_argument("--only", choices=IMPLEMENTATIONS, help="measure one implementation")
    options = parser.parse_args(argv)
    _raise_fd_limit()
    implementations = [options.only] if options.only else list(IMPLEMENTATIONS)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "small.bin").write_bytes(bytes(_SMALL))
        for number in range(7):
            (home / f"file{number}.txt").write_bytes(b"x" * (number * 100))
        run_rounds(
            implementations,
            options.rounds,
            lambda implementation: measure(implementation, home, options.count),
            title="server CPU us per operation",
            unit=" us",
            digits=0,
            column="operation",
        )
    return 0


if __name__ == "__main__":
    socket.setdefaulttimeout(60)
    raise SystemExit(main())
