"""What a session costs in Python alone: CPU per login and per command, no sockets.

Runs trioftp sessions over ``trio.testing.lockstep_stream_pair`` with an
``InlineRunner`` (no threads, no kernel), each one: greeting, USER, PASS,
*N* NOOPs, QUIT. It prints the CPU microseconds per session with and
without the NOOPs, and their difference per NOOP, so that changes to the
session core's hot path show without the network's noise. Compare two
checkouts by running it in each.

    python -m benchmarks.session_cost --sessions 1000 --noops 100 --rounds 3
"""

from __future__ import annotations

import argparse
import time

import trio
import trio.testing

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler
from trioftp.session.runner import InlineRunner


def _handler(home: str) -> type[FTPHandler]:
    authorizer = DummyAuthorizer()
    authorizer.add_user("bench", "bench", home, perm="elr")
    return type("CostHandler", (FTPHandler,), {"authorizer": authorizer})


async def _one_session(handler: type[FTPHandler], noops: int) -> None:
    client, server = trio.testing.lockstep_stream_pair()
    session = handler(
        server,
        None,
        local_address=("127.0.0.1", 21),
        remote_address=("127.0.0.1", 5000),
        runner=InlineRunner(),
    )
    pending = b""

    async def until(code: bytes) -> None:
        nonlocal pending
        while True:
            line, found, rest = pending.partition(b"\r\n")
            if found:
                pending = rest
                if line.startswith(code):
                    return
            else:
                pending += await client.receive_some(4096)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(session.handle_session)
        await until(b"220 ")
        for command, code in [(b"USER bench", b"331 "), (b"PASS bench", b"230 ")]:
            await client.send_all(command + b"\r\n")
            await until(code)
        for _ in range(noops):
            await client.send_all(b"NOOP\r\n")
            await until(b"200 ")
        await client.send_all(b"QUIT\r\n")
        await until(b"221 ")


async def _cpu_per_session(handler: type[FTPHandler], sessions: int, noops: int) -> float:
    start = time.process_time()
    for _ in range(sessions):
        await _one_session(handler, noops)
    return (time.process_time() - start) / sessions * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--noops", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--home", default="/")
    options = parser.parse_args()
    handler = _handler(options.home)
    login = min(
        trio.run(_cpu_per_session, handler, options.sessions, 0) for _ in range(options.rounds)
    )
    busy = min(
        trio.run(_cpu_per_session, handler, options.sessions, options.noops)
        for _ in range(options.rounds)
    )
    per_noop = (busy - login) / options.noops if options.noops else 0.0
    print(f"login session: {login:.1f} us CPU (best of {options.rounds} rounds)")
    print(f"with {options.noops} NOOPs: {busy:.1f} us CPU; per NOOP: {per_noop:.2f} us")


if __name__ == "__main__":
    main()
