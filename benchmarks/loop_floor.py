"""What the event loop alone costs, beside trioftp and pyftpdlib.

Two servers that know no FTP - they greet, answer each line with a canned
reply (``331`` to USER, ``230`` to PASS, ``221`` and close to QUIT, ``200``
to anything else) and do nothing else - show the floor under any server on
their loop:

* ``trio-floor``: one Trio task per connection, reading and writing the
  socket's descriptor directly and waiting with ``wait_readable`` (the
  cheapest way a Trio task can serve a line protocol: one scheduler pass
  per command);
* ``select-floor``: one ``selectors`` loop with callbacks, the design of
  pyftpdlib's ioloop.

Each round measures all four with the same client as ``benchmarks.run``:
server CPU per login (connect, greeting, USER, PASS, QUIT), server CPU per
NOOP, and the NOOP round trip (p50). If trioftp's figure is near
``trio-floor``'s, what is left of its gap to pyftpdlib is the loop's::

    python -m benchmarks.loop_floor [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import trio

from .client import Session
from .rounds import run_rounds
from .run import server
from .server_cpu import bare_login
from .workloads import Bench, Sizes

IMPLEMENTATIONS = ("trioftp", "pyftpdlib", "trio-floor", "select-floor")
_REPLIES = {b"USER": b"331 ok\r\n", b"PASS": b"230 ok\r\n"}


def _answer(line: bytes) -> bytes | None:
    """The canned reply to *line*; None for QUIT (reply 221, then close)."""
    verb = line.split(b" ", 1)[0].strip().upper()
    return None if verb == b"QUIT" else _REPLIES.get(verb, b"200 ok\r\n")


def serve_trio(listener: socket.socket) -> None:
    """The Trio floor: a task per connection, one scheduler pass per command."""

    async def session(stream: trio.SocketStream) -> None:
        sock = stream.socket
        descriptor = sock.fileno()
        os.write(descriptor, b"220 floor\r\n")
        pending = b""
        while True:
            await trio.lowlevel.checkpoint_if_cancelled()
            try:
                data = os.read(descriptor, 4096)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(sock)
                continue
            if not data:
                break
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                reply = _answer(line)
                os.write(descriptor, b"221 bye\r\n" if reply is None else reply)
                if reply is None:
                    sock.close()
                    return
        sock.close()

    async def main() -> None:
        listeners = [trio.SocketListener(trio.socket.from_stdlib_socket(listener))]
        await trio.serve_listeners(session, listeners)

    trio.run(main)


def serve_select(listener: socket.socket) -> None:
    """The selectors floor: one loop, a callback per readable socket."""
    selector = selectors.DefaultSelector()
    pending: dict[socket.socket, bytes] = {}
    listener.setblocking(False)
    selector.register(listener, selectors.EVENT_READ)

    def close(connection: socket.socket) -> None:
        selector.unregister(connection)
        del pending[connection]
        connection.close()

    while True:
        for key, _ in selector.select():
            if key.fileobj is listener:
                connection, _ = listener.accept()
                connection.setblocking(False)
                connection.send(b"220 floor\r\n")
                pending[connection] = b""
                selector.register(connection, selectors.EVENT_READ)
                continue
            connection = key.fileobj  # type: ignore[assignment]
            data = connection.recv(4096)
            if not data:
                close(connection)
                continue
            *lines, pending[connection] = (pending[connection] + data).split(b"\n")
            for line in lines:
                reply = _answer(line)
                connection.send(b"221 bye\r\n" if reply is None else reply)
                if reply is None:
                    close(connection)
                    break


@contextmanager
def floor_server(kind: str) -> Iterator[tuple[int, int]]:
    """Run a floor server of *kind* in a process of its own; yield its port and pid."""
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.loop_floor", "--serve", kind],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert process.stdout is not None
        yield int(process.stdout.readline().split()[1]), process.pid
    finally:
        process.kill()
        process.wait()


def measure(implementation: str, home: Path, options: argparse.Namespace) -> dict[str, float]:
    """One round of the three figures against a fresh server of *implementation*."""
    started = (
        floor_server(implementation.removesuffix("-floor"))
        if implementation.endswith("-floor")
        else server(implementation, home)
    )
    with started as (port, pid):
        bench = Bench(port, pid, home, Sizes())
        cpu = bench.server_cpu()
        for _ in range(options.logins):
            bare_login(port, None)
        login = (bench.server_cpu() - cpu) / options.logins * 1e6
        session = Session(port)
        for _ in range(200):
            session.command("NOOP")
        round_trips = []
        cpu = bench.server_cpu()
        for _ in range(options.commands):
            start = time.perf_counter_ns()
            session.command("NOOP")
            round_trips.append((time.perf_counter_ns() - start) / 1000)
        noop = (bench.server_cpu() - cpu) / options.commands * 1e6
        session.quit()
    return {
        "login CPU us": login,
        "NOOP CPU us": noop,
        "NOOP p50 us": statistics.median(round_trips),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--logins", type=int, default=2000, help="per round")
    parser.add_argument("--commands", type=int, default=4000, help="NOOPs per round")
    parser.add_argument("--serve", choices=("trio", "select"), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.serve:
        listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        print(f"READY {listener.getsockname()[1]}", flush=True)
        (serve_trio if options.serve == "trio" else serve_select)(listener)
        return 0
    with tempfile.TemporaryDirectory() as home:
        run_rounds(
            list(IMPLEMENTATIONS),
            options.rounds,
            lambda implementation: measure(implementation, Path(home), options),
            title="server CPU per login and per NOOP, NOOP round trip",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
