"""One session never takes the worker threads every session shares."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable

import trio

from trioftp.handlers import FTPHandler
from trioftp.session.runner import ThreadRunner

from ..support.servers import RunningServer

StartServer = Callable[..., Awaitable[RunningServer]]


class Gauge:
    """Counts blocking calls running at once; they wait until released."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.release = threading.Event()
        self.started = 0
        self.three_started = trio.Event()

    def work(self) -> None:
        with self.lock:
            self.running += 1
            self.started += 1
            self.most = max(self.most, self.running)
            started = self.started
        if started == 3:
            trio.from_thread.run_sync(self.three_started.set)
        self.release.wait(10)
        with self.lock:
            self.running -= 1


async def test_a_session_runs_at_most_max_blocking_calls_at_once(
    start_server: StartServer,
) -> None:
    gauge = Gauge()

    class Greedy(FTPHandler):
        proto_cmds = {
            **FTPHandler.proto_cmds,
            "SITE GREEDY": dict(perm=None, auth=True, arg=False, help="Syntax: SITE GREEDY"),
        }

        async def ftp_SITE_GREEDY(self, line: str) -> None:
            async with trio.open_nursery() as nursery:
                for _ in range(10):
                    nursery.start_soon(self.run_blocking, gauge.work)
            self.respond("200 Done.")

    server = await start_server(
        base=Greedy, runner=ThreadRunner(max_threads=8), max_blocking_calls=3
    )
    greedy = await server.client()
    other = await server.client()
    await greedy.send("SITE GREEDY")
    with trio.fail_after(10):
        await gauge.three_started.wait()
    # The greedy session holds 3 of the 8 threads; another session still gets one.
    assert (await other.cmd("CWD /")).code == 250
    assert gauge.running == 3
    gauge.release.set()
    assert (await greedy.reply()).first == "200 Done."
    assert gauge.most == 3
    for client in (greedy, other):
        await client.aclose()
