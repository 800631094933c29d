"""What each concurrency model costs against the async one, and pre-fork's scaling.

Starts trioftp once per model in a subprocess (``benchmarks/ftpserver.py
--concurrency ...``: the same user, home and settings, no per-session
logging) and measures:

* **logins/s**: *clients* client processes, each connecting, logging in
  (USER, PASS) and quitting one session after another for *seconds*;
* **KiB/session**: the proportional set size (PSS) of the server's whole
  process tree (the server, its session processes and their zygote)
  with *sessions* logged-in idle sessions, less before, per session;
* **downloads**: *downloads* sessions at once (one Trio client process),
  each logging in and downloading a *download-kb* KiB file: the wall time,
  and the server process tree's CPU time per download.

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
    python -m benchmarks.models --downloads 200 --download-kb 1024
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


def tree_cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) of *pid*'s process tree, ended children included."""
    total = 0
    for member in _tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += sum(int(field) for field in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def concurrent_downloads(port: int, pid: int, count: int, size: int) -> tuple[float, float]:
    """Wall seconds for *count* sessions downloading ``download.bin`` at once, and
    the server's CPU milliseconds per download."""

    async def one() -> None:
        session = await AsyncSession.login(port)
        got = await session.download("RETR download.bin")
        await session.quit()
        if got != size:
            raise RuntimeError(f"downloaded {got} bytes of {size}")

    async def run() -> float:
        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(count):
                nursery.start_soon(one)
        return time.perf_counter() - start

    cpu = tree_cpu_seconds(pid)
    wall = trio.run(run)
    return wall, (tree_cpu_seconds(pid) - cpu) / count * 1e3


async def _login_into(port: int, opened: list[AsyncSession]) -> None:
    opened.append(await AsyncSession.login(port))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="login loop length")
    parser.add_argument("--clients", type=int, default=2, help="client processes logging in")
    parser.add_argument("--sessions", type=int, default=100, help="idle sessions for memory")
    parser.add_argument("--downloads", type=int, default=200, help="downloads at once")
    parser.add_argument("--download-kb", type=int, default=1024, help="size of each download")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes, 1 round")
    options = parser.parse_args()
    if options.quick:
        options.seconds, options.sessions, options.rounds = 0.2, 3, 1
        options.downloads, options.download_kb = 3, 16
    cores = len(os.sched_getaffinity(0))
    print(
        f"concurrency models: {options.clients} login clients x {options.seconds} s, "
        f"{options.sessions} idle sessions, {options.downloads} downloads of "
        f"{options.download_kb} KiB at once, median of {options.rounds} rounds, {cores} cores"
    )
    print(
        f"{'model':<14}{'logins/s':>10}{'vs async':>10}{'KiB/session':>13}{'vs async':>10}"
        f"{'downloads s':>13}{'vs async':>10}{'CPU ms/dl':>11}"
    )
    figures: dict[str, dict[str, list[float]]] = {
        label: {"rate": [], "size": [], "wall": [], "cpu": []} for label, _, _ in MODELS
    }
    size = options.download_kb * 1024
    with tempfile.TemporaryDirectory() as home:
        (Path(home) / "download.bin").write_bytes(os.urandom(size))
        for _ in range(options.rounds):
            for label, concurrency, workers in MODELS:
                with server(Path(home), concurrency, workers) as (port, pid):
                    values = figures[label]
                    values["rate"].append(logins_per_second(port, options.clients, options.seconds))
                    values["size"].append(kib_per_session(port, pid, options.sessions))
                    wall, cpu = concurrent_downloads(port, pid, options.downloads, size)
                    values["wall"].append(wall)
                    values["cpu"].append(cpu)
    medians = {
        label: {name: statistics.median(values) for name, values in figures[label].items()}
        for label, _, _ in MODELS
    }
    base = medians["async"]
    for label, _, _ in MODELS:
        row = medians[label]
        size_ratio = f"{row['size'] / base['size']:.1f}x" if base["size"] > 0 else "-"
        print(
            f"{label:<14}{row['rate']:>10.0f}{row['rate'] / base['rate']:>9.2f}x"
            f"{row['size']:>13.1f}{size_ratio:>10}{row['wall']:>13.3f}"
            f"{row['wall'] / base['wall']:>9.2f}x{row['cpu']:>11.2f}"
        )
    scaling = medians["pre-fork x2"]["rate"] / base["rate"]
    print(f"pre-fork scaling, 2 workers against async (1 process): {scaling:.2f}x logins/s")
    speedup = base["wall"] / medians["pre-fork x2"]["wall"]
    print(f"pre-fork scaling, 2 workers against async: {speedup:.2f}x for the downloads")


if __name__ == "__main__":
    main()
