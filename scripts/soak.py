"""Soak test: many sessions looping real work against a real server process.

Starts ``scripts/stress_server.py`` (``FTPServer`` + ``FTPHandler``, default
settings, in a subprocess) and runs ``--sessions`` clients for ``--minutes``.
Each client logs in and loops: PASV or EPSV, STOR of a new file (random size
up to 256 KiB), RETR of it, LIST, DELE of some of them; now and then it
sends ABOR in the middle of a transfer or drops the connection abruptly (a
close or a TCP reset) and starts a new session.

At the end every upload that got ``226`` and was not deleted must be on the
server's disk byte for byte, every download of such a file must have been
exact, and the server's descriptors, threads and memory (sampled every
``--interval`` seconds from ``/proc``) must be flat: descriptors back near
the first sample once the clients are gone, threads within the worker pool,
RSS grown by less than 64 MiB once the server has collected garbage and
trimmed its allocator (the last sample; the one before is untrimmed). It
prints the figures (and one JSON line with ``--json``); the exit status is 0
only if every check held.

    python scripts/soak.py --minutes 3 --sessions 100
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import trio
from stress_server import (
    PASSWORD,
    RSS_SLACK_KIB,
    STALLED,
    THREAD_BOUND,
    USER,
    Replies,
    Sample,
    ServerUnderTest,
    check_normal_service,
    open_passive,
    reset,
)

KNOWN_FILE, KNOWN_CONTENT = "known.bin", bytes(range(256)) * 64


@dataclass
class Tally:
    sessions: int = 0
    uploads_complete: int = 0  #: STORs answered 226
    uploads_failed: int = 0  #: STORs answered otherwise (aborted ones included)
    downloads_exact: int = 0
    downloads_wrong: list[str] = field(default_factory=list)  #: 226 but not the stored bytes
    listings: int = 0
    deletes: int = 0
    abors: int = 0
    abrupt_closes: int = 0
    client_errors: dict[str, int] = field(default_factory=dict)
    #: name -> SHA-256 of every upload that got 226 and was not deleted
    stored: dict[str, bytes] = field(default_factory=dict)


def digest(data: bytes) -> bytes:
    """SHA-256 of *data*, with its length: what the checks compare."""
    return hashlib.sha256(data).digest() + len(data).to_bytes(8, "big")


class Dropped(Exception):
    """This client drops its connection on purpose."""


async def upload(host: str, control: Replies, rng: random.Random, name: str, tally: Tally) -> None:
    data = await open_passive(host, control, rng.choice(("PASV", "EPSV")))
    if data is None:
        return
    content = rng.randbytes(rng.randint(0, 256 * 1024))
    await control.stream.send_all(f"STOR {name}\r\n".encode())
    if not (await control.reply()).startswith((b"125", b"150")):
        await data.aclose()
        return
    if rng.random() < 0.05:  # ABOR halfway
        with trio.fail_after(STALLED):
            await data.send_all(content[: len(content) // 2])
        tally.abors += 1
        await control.stream.send_all(b"ABOR\r\n")
        await data.aclose()
        while not (await control.reply()).startswith((b"225", b"226 ABOR")):
            pass
        tally.uploads_failed += 1
        return
    with trio.fail_after(STALLED):
        await data.send_all(content)
    await data.aclose()
    if (await control.reply()).startswith(b"226"):
        tally.uploads_complete += 1
        tally.stored[name] = digest(content)
    else:
        tally.uploads_failed += 1


async def download(
    host: str, control: Replies, rng: random.Random, command: str, tally: Tally
) -> bytes | None:
    """RETR/LIST: the bytes if the transfer ended in 226, else None."""
    data = await open_passive(host, control, rng.choice(("PASV", "EPSV")))
    if data is None:
        return None
    await control.stream.send_all(f"{command}\r\n".encode())
    if not (await control.reply()).startswith((b"125", b"150")):
        await data.aclose()
        return None
    if rng.random() < 0.05:  # ABOR midway (or after the end: then ABOR gets 225/226)
        tally.abors += 1
        with trio.fail_after(STALLED):
            await data.receive_some(1024)
        await control.stream.send_all(b"ABOR\r\n")
        await data.aclose()
        while not (reply := await control.reply()).startswith(b"225"):
            if b"ABOR" in reply:
                break
        return None
    chunks = []
    async with data:
        while True:
            with trio.fail_after(STALLED):
                chunk = await data.receive_some(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks) if (await control.reply()).startswith(b"226") else None


async def one_session(host: str, port: int, rng: random.Random, number: int, tally: Tally) -> None:
    stream = await trio.open_tcp_stream(host, port)
    control = Replies(stream)
    try:
        await control.reply()
        await control.cmd(f"USER {USER}")
        if not (await control.cmd(f"PASS {PASSWORD}")).startswith(b"230"):
            raise RuntimeError("login refused")
        await control.cmd("TYPE I")
        for step in range(rng.randint(1, 40)):
            if rng.random() < 0.02:
                raise Dropped
            name = f"c{number}-{tally.sessions}-{step}.bin"
            await upload(host, control, rng, name, tally)
            if name in tally.stored:
                received = await download(host, control, rng, f"RETR {name}", tally)
                if received is not None:
                    if digest(received) == tally.stored[name]:
                        tally.downloads_exact += 1
                    else:
                        tally.downloads_wrong.append(name)
            if rng.random() < 0.3 and await download(host, control, rng, "LIST", tally):
                tally.listings += 1
            if name in tally.stored and rng.random() < 0.5:
                # Out of the checked files until the answer is known: a DELE
                # cut short by the deadline may or may not have been done.
                content = tally.stored.pop(name)
                if (await control.cmd(f"DELE {name}")).startswith(b"250"):
                    tally.deletes += 1
                else:
                    tally.stored[name] = digest(content)
        await control.cmd("QUIT")
    except Dropped:
        tally.abrupt_closes += 1
        if rng.random() < 0.5:
            reset(stream)
    finally:
        await stream.aclose()


async def client(host: str, port: int, number: int, seed: int, tally: Tally, until: float) -> None:
    rng = random.Random(seed)
    while trio.current_time() < until:
        tally.sessions += 1
        try:
            with trio.move_on_at(until):
                await one_session(host, port, rng, number, tally)
        except* (OSError, EOFError, trio.BrokenResourceError, trio.TooSlowError) as group:
            for exc in group.exceptions:
                name = type(exc).__name__
                tally.client_errors[name] = tally.client_errors.get(name, 0) + 1


async def run(
    server: ServerUnderTest, args: argparse.Namespace, tally: Tally, samples: list[Sample]
) -> None:
    until = trio.current_time() + args.minutes * 60

    async def sample_every_interval() -> None:
        while True:
            await trio.sleep(args.interval)
            samples.append(server.sample())

    async with trio.open_nursery() as watching:
        watching.start_soon(sample_every_interval)
        async with trio.open_nursery() as nursery:
            for number in range(args.sessions):
                seed = args.seed * 1000 + number
                nursery.start_soon(client, server.host, server.port, number, seed, tally, until)
        watching.cancel_scope.cancel()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Soak a real trioftp server.")
    parser.add_argument("--minutes", type=float, default=3)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--interval", type=float, default=10, help="seconds between samples")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        served = root / "served"
        served.mkdir()
        (served / KNOWN_FILE).write_bytes(KNOWN_CONTENT)
        with ServerUnderTest(served, root / "server.log") as server:
            check_normal_service(server.host, server.port, KNOWN_FILE, KNOWN_CONTENT)
            samples = [server.trimmed()]
            tally = Tally()
            started = time.monotonic()
            trio.run(run, server, args, tally, samples)
            elapsed = time.monotonic() - started
            samples.append(server.settle(samples[0]))
            samples.append(server.trimmed())
            check_normal_service(server.host, server.port, KNOWN_FILE, KNOWN_CONTENT)
            missing = [name for name in tally.stored if not (served / name).is_file()]
            damaged = [
                name
                for name, content in tally.stored.items()
                if name not in missing and digest((served / name).read_bytes()) != content
            ]
            crashes = server.crashes()
            growth = server.object_growth()
    print(f"Python objects that grew most: {growth}", file=sys.stderr)
    return report(args, tally, elapsed, samples, damaged, missing, crashes)


def report(
    args: argparse.Namespace,
    tally: Tally,
    elapsed: float,
    samples: list[Sample],
    damaged: list[str],
    missing: list[str],
    crashes: list[str],
) -> int:
    first, settled, last = samples[0], samples[-2], samples[-1]
    highest = Sample(
        last.seconds,
        max(s.fds for s in samples),
        max(s.threads for s in samples),
        max(s.rss_kib for s in samples),
    )
    flat = (
        last.fds <= first.fds + 4
        and last.threads <= THREAD_BOUND
        and last.rss_kib - first.rss_kib <= RSS_SLACK_KIB
    )
    ok = flat and not damaged and not missing and not tally.downloads_wrong and not crashes
    ok = ok and tally.uploads_complete > 0 and "TooSlowError" not in tally.client_errors
    figures = {
        "ok": ok,
        "minutes": args.minutes,
        "sessions_concurrent": args.sessions,
        "seconds": round(elapsed, 1),
        **{k: v for k, v in asdict(tally).items() if k != "stored"},
        "kept_on_disk_checked": len(tally.stored),
        "damaged": damaged[:20],
        "missing": missing[:20],
        "settled_untrimmed": asdict(settled),
        "crashes": crashes[:20],
        "first": asdict(first),
        "last": asdict(last),
        "max": asdict(highest),
        "samples": [asdict(s) for s in samples],
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{args.sessions} clients for {elapsed:.0f} s: {tally.sessions} sessions")
        print(
            f"  STOR 226: {tally.uploads_complete}, STOR failed/aborted: {tally.uploads_failed}, "
            f"RETR exact: {tally.downloads_exact}, RETR wrong: {len(tally.downloads_wrong)}"
        )
        print(
            f"  LIST: {tally.listings}, DELE: {tally.deletes}, ABOR: {tally.abors}, "
            f"abrupt closes: {tally.abrupt_closes}, client-side errors: {tally.client_errors}"
        )
        print(f"  files kept and checked byte for byte on disk: {len(tally.stored)}")
        print(f"  damaged: {len(damaged)} {damaged[:5]}, missing: {len(missing)} {missing[:5]}")
        for sample in samples:
            print(f"  t={sample.seconds:7.1f}s  {sample}")
        print(f"server first: {first}")
        print(f"server after the clients: {settled}")
        print(
            f"server last:  {last} (after gc + malloc_trim; threads: the pool, <= {THREAD_BOUND})"
        )
        print(f"server max:   {highest}")
        print(f"tracebacks/errors in the server log: {len(crashes)}")
        for line in crashes[:20]:
            print("   ", line)
        print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
