"""The benchmark's workloads: each drives one running server and returns its figures.

Every workload is a function ``(bench) -> dict[str, float]``; the keys are the
figures it measured (see :data:`WORKLOADS` for which one is compared).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import trio

from .client import AsyncSession, Session

__all__ = ["RUNS", "TARGETS", "Bench", "Sizes", "Target", "Workload", "make_fixtures"]


@attrs.frozen
class Sizes:
    """How big each workload is (full runs and the CI smoke run differ)."""

    transfer_mib: int = 1024
    tls_transfer_mib: int = 1024
    login_seconds: float = 5.0
    latency_commands: int = 4000
    idle_sessions: int = 1000
    burst_sessions: int = 1000
    downloads: int = 200
    download_mb: int = 10
    listing_entries: int = 10_000
    listing_repeats: int = 5

    @classmethod
    def quick(cls) -> Sizes:
        return cls(16, 8, 0.5, 200, 50, 50, 10, 1, 300, 2)


@attrs.define
class Bench:
    """What a workload needs: the server to drive, its process, the fixtures."""

    port: int
    pid: int
    home: Path
    sizes: Sizes
    tls_port: int | None = None
    tls_context: object = None

    def server_cpu(self) -> float:
        """CPU seconds (user + system) the server process has used."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def server_pss_kib(self) -> int:
        """The server's anonymous proportional set size (its heap and stacks), in KiB.

        Not the whole PSS: the server's share of the pages of files it maps
        (the interpreter, libraries) changes as other processes on the
        machine that map them start and end, which added up to 2 KiB of
        noise per idle session on a busy machine. What sessions allocate is
        anonymous memory. (Kernels before 5.8 have no Pss_Anon: then all of it.)
        """
        fields = dict(
            line.split(":", 1)
            for line in Path(f"/proc/{self.pid}/smaps_rollup").read_text().splitlines()
            if line.startswith(("Pss:", "Pss_Anon:"))
        )
        return int(fields.get("Pss_Anon", fields["Pss"]).split()[0])


Workload = Callable[[Bench], dict[str, float]]


def _throughput(bench: Bench, mib: int, *, upload: bool, tls: bool) -> dict[str, float]:
    port = bench.tls_port if tls else bench.port
    assert port is not None
    session = Session(port, tls=bench.tls_context if tls else None)  # type: ignore[arg-type]
    size = mib << 20
    # Start every transfer with no dirty pages from earlier uploads being
    # written back meanwhile: that noise would land on whichever server runs next.
    os.sync()
    if upload:
        _prime_page_cache(bench.home, size)
    cpu = bench.server_cpu()
    start = time.perf_counter()
    if upload:
        session.stor("upload.bin", size)
    else:
        received = session.retr(f"big-{mib}.bin")
        assert received == size, (received, size)
    elapsed = time.perf_counter() - start
    cpu = bench.server_cpu() - cpu
    if upload:
        session.command("DELE upload.bin")
    session.quit()
    return {"MB/s": size / elapsed / 1e6, "server CPU s/GiB": cpu / (size / (1 << 30))}


def _prime_page_cache(directory: Path, size: int) -> None:
    """Write *size* bytes to a scratch file and delete it, unmeasured.

    On a virtual machine whose balloon reports free pages to the host, pages
    freed a few seconds ago may have been given back and cost a host fault
    each when the next upload's page cache reuses them (0.15 against 0.7
    s/GiB of copying, seen here). Freeing just-written pages right before
    the upload hands every server the same warm pages. Deleting the file
    drops its dirty pages without writing them back. ``dd`` does the writing
    so that its CPU time stays out of the client's figure.
    """
    scratch = directory / ".prime"
    command = ["dd", "if=/dev/zero", f"of={scratch}", "bs=1M", f"count={size >> 20}"]
    subprocess.run(command, check=True, capture_output=True)
    scratch.unlink()


def retr(bench: Bench) -> dict[str, float]:
    return _throughput(bench, bench.sizes.transfer_mib, upload=False, tls=False)


def stor(bench: Bench) -> dict[str, float]:
    return _throughput(bench, bench.sizes.transfer_mib, upload=True, tls=False)


def retr_tls(bench: Bench) -> dict[str, float]:
    return _throughput(bench, bench.sizes.tls_transfer_mib, upload=False, tls=True)


def stor_tls(bench: Bench) -> dict[str, float]:
    return _throughput(bench, bench.sizes.tls_transfer_mib, upload=True, tls=True)


def login(bench: Bench) -> dict[str, float]:
    """Connect, USER, PASS, QUIT, one after another."""
    count = 0
    cpu = bench.server_cpu()
    start = time.perf_counter()
    deadline = start + bench.sizes.login_seconds
    while time.perf_counter() < deadline:
        Session(bench.port).quit()
        count += 1
    elapsed = time.perf_counter() - start
    cpu = bench.server_cpu() - cpu
    return {"logins/s": count / elapsed, "server CPU us/login": cpu / count * 1e6}


def latency(bench: Bench) -> dict[str, float]:
    """Round trips of NOOP, PWD, SIZE, CWD on one session."""
    session = Session(bench.port)
    commands = ["NOOP", "PWD", "SIZE small.bin", "CWD /"]
    for i in range(200):
        session.command(commands[i % 4])
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(bench.sizes.latency_commands):
        command = commands[i % 4]
        start = time.perf_counter_ns()
        reply = session.command(command)
        samples[command].append((time.perf_counter_ns() - start) / 1000)
        assert reply[:1] == b"2", reply
    session.quit()
    everything = [value for values in samples.values() for value in values]
    figures = {"p50 us": statistics.median(everything)}
    figures.update(
        {f"{name.split()[0]} p50 us": statistics.median(v) for name, v in samples.items()}
    )
    return figures


def idle(bench: Bench) -> dict[str, float]:
    """Memory per logged-in idle session (anonymous PSS)."""
    count = bench.sizes.idle_sessions

    async def run() -> float:
        warm = await AsyncSession.login(bench.port)
        await warm.quit()
        await trio.sleep(0.5)
        before = bench.server_pss_kib()
        sessions: list[AsyncSession] = []
        for first in range(0, count, 50):
            batch: list[AsyncSession] = []
            async with trio.open_nursery() as nursery:
                for _ in range(first, min(first + 50, count)):
                    nursery.start_soon(_login_into, bench.port, batch)
            sessions += batch
        await trio.sleep(1.0)
        after = bench.server_pss_kib()
        async with trio.open_nursery() as nursery:
            for session in sessions:
                nursery.start_soon(_noop_and_quit, session)
        return (after - before) / count

    return {"KiB/session": trio.run(run)}


async def _login_into(port: int, sessions: list[AsyncSession]) -> None:
    sessions.append(await AsyncSession.login(port))


async def _noop_and_quit(session: AsyncSession) -> None:
    await session.command("NOOP")
    await session.quit()


def burst(bench: Bench) -> dict[str, float]:
    """Many sessions at once: connect, login, LIST, RETR a small file, QUIT."""
    failures: list[str] = []

    async def one() -> None:
        try:
            with trio.fail_after(60):
                session = await AsyncSession.login(bench.port)
                await session.download("LIST")
                assert await session.download("RETR small.bin") == 10240
                await session.quit()
        except Exception as exc:  # counted, not raised: failures are the figure
            failures.append(type(exc).__name__)

    async def run() -> float:
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            for _ in range(bench.sizes.burst_sessions):
                nursery.start_soon(one)
        return trio.current_time() - start

    cpu = bench.server_cpu()
    wall = trio.run(run)
    cpu = bench.server_cpu() - cpu
    return {
        "wall s": wall,
        "failed": float(len(failures)),
        # The client (one Trio process) can be the bottleneck, which hides the
        # server's own cost in the wall time: this figure does not.
        "server CPU ms/session": cpu / bench.sizes.burst_sessions * 1e3,
    }


def downloads(bench: Bench) -> dict[str, float]:
    """Many clients downloading a file each, at the same time."""
    name = f"dl-{bench.sizes.download_mb}.bin"
    size = bench.sizes.download_mb * 1_000_000

    async def one() -> None:
        session = await AsyncSession.login(bench.port)
        assert await session.download(f"RETR {name}") == size
        await session.quit()

    async def run() -> float:
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            for _ in range(bench.sizes.downloads):
                nursery.start_soon(one)
        return trio.current_time() - start

    cpu = bench.server_cpu()
    wall = trio.run(run)
    cpu = bench.server_cpu() - cpu
    return {"wall s": wall, "server CPU ms/session": cpu / bench.sizes.downloads * 1e3}


def listing(bench: Bench) -> dict[str, float]:
    """LIST and MLSD of a directory with many entries."""
    session = Session(bench.port)
    figures = {}
    for command in ("LIST", "MLSD"):
        times = []
        for _ in range(bench.sizes.listing_repeats):
            start = time.perf_counter()
            session.listing(command, "many")
            times.append(time.perf_counter() - start)
        figures[f"{command} s"] = statistics.median(times)
    session.quit()
    return figures


#: The workloads, in the order a round runs them (idle first: a fresh server).
RUNS: dict[str, Workload] = {
    "idle": idle,
    "retr": retr,
    "stor": stor,
    "retr-tls": retr_tls,
    "stor-tls": stor_tls,
    "login": login,
    "latency": latency,
    "list": listing,
    "burst": burst,
    "downloads": downloads,
}


@attrs.frozen
class Target:
    """What a figure must reach: a ratio to pyftpdlib's, or an absolute bound."""

    run: str
    figure: str
    higher_is_better: bool
    ratio: float | None = None
    at_most: float | None = None

    def met(self, ours: float, theirs: float) -> bool:
        if self.at_most is not None:
            return ours <= self.at_most
        assert self.ratio is not None
        ratio = ours / theirs if theirs else float("inf")
        return ratio >= self.ratio if self.higher_is_better else ratio <= self.ratio

    def describe(self) -> str:
        if self.at_most is not None:
            return f"<= {self.at_most:g}"
        return f"{'>=' if self.higher_is_better else '<='} {self.ratio:g}x"


TARGETS = [
    Target("retr", "MB/s", True, ratio=1.0),
    Target("retr", "server CPU s/GiB", False, ratio=1.0),
    Target("stor", "MB/s", True, ratio=1.5),
    Target("retr-tls", "MB/s", True, ratio=1.3),
    Target("stor-tls", "MB/s", True, ratio=1.3),
    Target("login", "logins/s", True, ratio=1.0),
    Target("latency", "p50 us", False, ratio=1.0),
    Target("idle", "KiB/session", False, at_most=8.0),
    Target("burst", "failed", False, at_most=0.0),
    Target("burst", "wall s", False, ratio=1.0),
    Target("burst", "server CPU ms/session", False, ratio=1.0),
    Target("downloads", "wall s", False, ratio=1.0),
    Target("list", "LIST s", False, ratio=1.0),
    Target("list", "MLSD s", False, ratio=1.0),
]


def make_fixtures(home: Path, sizes: Sizes) -> None:
    """Create the files the workloads read (kept between runs)."""
    home.mkdir(parents=True, exist_ok=True)
    block = os.urandom(4 << 20)
    for mib in {sizes.transfer_mib, sizes.tls_transfer_mib}:
        path = home / f"big-{mib}.bin"
        if not path.exists() or path.stat().st_size != mib << 20:
            with path.open("wb") as out:
                for _ in range(mib // 4):
                    out.write(block)
                out.write(block[: (mib % 4) << 20])
    (home / "small.bin").write_bytes(block[:10240])
    (home / f"dl-{sizes.download_mb}.bin").write_bytes(
        (block * (1 + sizes.download_mb // 4))[: sizes.download_mb * 1_000_000]
    )
    many = home / "many"
    many.mkdir(exist_ok=True)
    existing = len(os.listdir(many))
    for i in range(existing, sizes.listing_entries):
        (many / f"entry-{i:06d}.txt").write_bytes(b"")
