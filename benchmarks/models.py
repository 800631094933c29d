"""What each concurrency model costs against the async one, and pre-fork's scaling.

Starts trioftp once per model in a subprocess (``benchmarks/ftpserver.py
--concurrency ...``: the same user, home and settings, no per-session
logging) and measures:

* **logins/s**: *clients* client processes, each connecting, logging in
  (USER, PASS) and quitting one session after another for *seconds*;
* **KiB/session**: the proportional set size (PSS) of the server's whole
  process tree (the server, its session processes and their zygote)
  with *sessions* logged-in idle sessions, less before, per session.

The models: ``async``, ``multi-thread``, ``multi-proc``, and ``pre-fork``
with 2 workers (a pre-fork server with 1 worker *is* the async one, so
pre-fork x2 against async is the scaling of logins with a second worker on
a second core). Rounds interleave the models (A, B, C, D, A, B, ...), so
that a busy moment of a shared machine does not land on one model only.
The client runs on the same machine: on 2 cores it competes with the
server, which the scaling figure includes.

    python -m benchmarks.models                      # full run (~1 min)
    python -m benchmarks.models --quick              # smoke run
    python -m benchmarks.models --seconds 5 --sessions 200 --rounds 3
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import trio

from .client import AsyncSession, Session
from .serverprocess import server_process

#: (label, --concurrency, --workers)
MODELS = [
    ("async", "async", 1),
    ("multi-thread", "multi-thread", 1),
    ("multi-proc", "multi-proc", 1),
    ("pre-fork x2", "pre-fork", 2),
]


@contextmanager
def server(home: Path, concurrency: str, workers: int) -> Iterator[tuple[int, int]]:
    """Run the benchmark server with *concurrency*; yield its (port, pid)."""
    arguments = ["trioftp", "--home", str(home), "--passive", "40000-40999"]
    arguments += ["--concurrency", concurrency, "--workers", str(workers)]
    with server_process(arguments) as started:
        yield started


def _tree(pid: int) -> list[int]:
    """*pid* and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rpartition(")")[2].split()[1]), []).append(int(entry))
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending += children.get(current, [])
    return found


def tree_pss_kib(pid: int) -> int:
    """The PSS of *pid*'s process tree, in KiB."""
    total = 0
    for member in _tree(pid):
        try:
            rollup = Path(f"/proc/{member}/smaps_rollup").read_text()
        except OSError:
            continue
        total += next(
            int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")
        )
    return total


def _login_loop(port: int, seconds: float, counts: multiprocessing.SimpleQueue[int]) -> None:
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        Session(port).quit()
        count += 1
    counts.put(count)


def logins_per_second(port: int, clients: int, seconds: float) -> float:
    """Logins per second with *clients* client processes logging in one after another."""
    Session(port).quit()  # warm
    context = multiprocessing.get_context("fork")  # the client runs no Trio: fork is fine
    counts: multiprocessing.SimpleQueue[int] = context.SimpleQueue()
    processes = [
        context.Process(target=_login_loop, args=(port, seconds, counts)) for _ in range(clients)
    ]
    start = time.perf_counter()
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - start
    return sum(counts.get() for _ in processes) / elapsed


def kib_per_session(port: int, pid: int, sessions: int) -> float:
    """PSS of the server's process tree per logged-in idle session."""

    async def run() -> float:
        warm = await AsyncSession.login(port)
        await warm.quit()
        await trio.sleep(0.5)
        before = tree_pss_kib(pid)
        opened: list[AsyncSession] = []
        for first in range(0, sessions, 25):
            async with trio.open_nursery() as nursery:
                for _ in range(first, min(first + 25, sessions)):
                    nursery.start_soon(_login_into, port, opened)
        await trio.sleep(0.5)
        after = tree_pss_kib(pid)
        async with trio.open_nursery() as nursery:
            for session in opened:
                nursery.start_soon(session.quit)
        return (after - before) / sessions

    return trio.run(run)


async def _login_into(port: int, opened: list[AsyncSession]) -> None:
    opened.append(await AsyncSession.login(port))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="login loop length")
    parser.add_argument("--clients", type=int, default=2, help="client processes logging in")
    parser.add_argument("--sessions", type=int, default=100, help="idle sessions for memory")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes, 1 round")
    options = parser.parse_args()
    if options.quick:
        options.seconds, options.sessions, options.rounds = 0.2, 3, 1
    cores = len(os.sched_getaffinity(0))
    print(
        f"concurrency models: {options.clients} login clients x {options.seconds} s, "
        f"{options.sessions} idle sessions, median of {options.rounds} rounds, {cores} cores"
    )
    print(f"{'model':<14}{'logins/s':>10}{'vs async':>10}{'KiB/session':>13}{'vs async':>10}")
    rates: dict[str, list[float]] = {label: [] for label, _, _ in MODELS}
    sizes: dict[str, list[float]] = {label: [] for label, _, _ in MODELS}
    with tempfile.TemporaryDirectory() as home:
        for _ in range(options.rounds):
            for label, concurrency, workers in MODELS:
                with server(Path(home), concurrency, workers) as (port, pid):
                    rates[label].append(logins_per_second(port, options.clients, options.seconds))
                    sizes[label].append(kib_per_session(port, pid, options.sessions))
    base_rate, base_size = statistics.median(rates["async"]), statistics.median(sizes["async"])
    for label, _, _ in MODELS:
        rate, size = statistics.median(rates[label]), statistics.median(sizes[label])
        size_ratio = f"{size / base_size:.1f}x" if base_size > 0 else "-"
        print(f"{label:<14}{rate:>10.0f}{rate / base_rate:>9.2f}x{size:>13.1f}{size_ratio:>10}")
    scaling = statistics.median(rates["pre-fork x2"]) / base_rate
    print(f"pre-fork scaling, 2 workers against async (1 process): {scaling:.2f}x logins/s")


if __name__ == "__main__":
    main()
