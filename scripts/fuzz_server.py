"""Socket-level fuzzer: a flood of valid and hostile commands against a real server.

Starts ``scripts/stress_server.py`` (``FTPServer`` + ``FTPHandler`` in a
subprocess, command pacing off unless ``--pacing``: one connection then sends
as fast as TCP lets it) and runs ``--sessions`` concurrent clients until
``--commands`` commands were sent or ``--seconds`` have passed. Each client
connection, one after another:

* mostly pours pipelined bursts of 1-300 command lines while a reader task
  drains the replies: real commands with hostile arguments (``..``, NUL,
  absolute paths, huge lines past the 4096-byte limit), out-of-order
  commands, Telnet IAC sequences, bare CR, invalid UTF-8, random bytes;
* sometimes (1 in 8) does real transfers one at a time: PASV/EPSV, then
  RETR/LIST/STOR/NLST/MLSD, reading the data or resetting it midway, ABOR;
* ends with QUIT, a plain close, a TCP reset (``SO_LINGER`` 0) or a close
  in the middle of a line.

Then it checks that the server still serves an ordinary client (login, LIST,
RETR of a known file, with ``ftplib``), that its descriptors are back near
the baseline, its threads within its worker pool, its memory (once it has
collected garbage and trimmed its allocator) within 64 MiB of the baseline,
that no client waited 60 s without progress (a stalled session), and that
its log holds no traceback. It prints the figures, and one JSON
line with ``--json``. The exit status is 0 only if every check held.

    python scripts/fuzz_server.py --commands 1000000 --sessions 50 --seconds 600
"""

from __future__ import annotations

import argparse
import ftplib
import json
import random
import sys
import tempfile
from collections.abc import Awaitable, Callable
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
    eof,
    open_passive,
    reset,
)

KNOWN_FILE, KNOWN_CONTENT = "known.bin", bytes(range(256)) * 400

#: Commands that never wait on a data connection, with arguments worth trying.
COMMANDS: dict[str, tuple[str, ...]] = {
    "NOOP": ("",),
    "PWD": ("",),
    "SYST": ("",),
    "FEAT": ("",),
    "HELP": ("", "RETR", "SITE", "NOPE"),
    "STAT": ("", "known.bin", "sub", "/../..", "nope"),
    "TYPE": ("I", "A", "L 8", "X"),
    "MODE": ("S", "Z"),
    "STRU": ("F", "R"),
    "CWD": ("sub", "/", "..", "../../..", "/etc", "nope", "known.bin", "a\x00b"),
    "CDUP": ("",),
    "SIZE": ("known.bin", "sub", "nope", "../../etc/passwd"),
    "MDTM": ("known.bin", "nope"),
    "MLST": ("known.bin", "sub", "/../../etc", ""),
    "MKD": ("sub/new", "/../escape", "sub"),
    "RMD": ("sub/new", "sub", "/"),
    "DELE": ("nope", "sub", "/../../etc/passwd", "victim.bin"),
    "RNFR": ("nope", "victim.bin", "sub/victim.bin"),
    "RNTO": ("/../../tmp/x", "sub/victim.bin", "victim.bin"),
    "REST": ("0", "100", "-5", "99999999999999999999999"),
    "ALLO": ("100",),
    "PASV": ("",),
    "EPSV": ("", "1", "2", "ALL"),
    "PORT": ("127,0,0,1,0,1", "10,0,0,1,4,0", "1,2,3"),
    "EPRT": ("|1|127.0.0.1|1|", "|2|::1|1|", "|9|x|y|"),
    "ABOR": ("",),
    "OPTS": ("UTF8 ON", "MLST type;size;", "BOGUS"),
    "SITE": ("HELP", "CHMOD 755 victim.bin", "CHMOD 999 nope", "XYZ"),
    "MFMT": ("20200101000000 nope", "bad"),
    "XCRC": ("nope",),
    "AUTH": ("TLS",),
    "PBSZ": ("0",),
    "PROT": ("P",),
    "USER": ("user", "anonymous", "nobody"),
    "PASS": ("wrong", PASSWORD, ""),
    "ACCT": ("x",),
    "REIN": ("",),
}
GARBAGE = (
    b"\xff\xf4\xff\xf2ABOR",  # Telnet Synch before ABOR
    b"\xff\xfa\x18",  # IAC SB never closed
    b"\xff\xfb\x01\xff\xfd\x03",  # WILL/DO negotiation
    b"NOOP\r\x00",  # CR NUL
    b"\xc3\x28\x80\xff",  # not UTF-8
    b"\x00\x00\x00",
    b"CWD \xed\xa0\x80",  # an encoded surrogate
    b"",
)


@dataclass
class Tally:
    """What the clients did, and what went wrong on their side."""

    commands: int = 0  #: command lines written to sockets
    replies: int = 0  #: complete final replies read back
    sessions: int = 0
    transfers: int = 0  #: transfer commands sent in transfer sessions
    endings: dict[str, int] = field(default_factory=dict)
    client_errors: dict[str, int] = field(default_factory=dict)  #: connect/send failures by type
    malformed: list[str] = field(default_factory=list)  #: reply lines not in RFC 959 form


def garbage_line(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.55:
        name = rng.choice(list(COMMANDS))
        argument = rng.choice(COMMANDS[name])
        name = name.lower() if rng.random() < 0.1 else name
        return f"{name} {argument}".rstrip().encode("utf-8", "surrogateescape") + b"\r\n"
    if roll < 0.75:
        return rng.choice(GARBAGE) + rng.choice((b"\r\n", b"\n"))
    if roll < 0.80:
        return b"NOOP " + b"A" * rng.randint(4000, 20000) + b"\r\n"  # past max_line_length
    if roll < 0.90:  # a random word
        return bytes(rng.randrange(0x21, 0x7F) for _ in range(rng.randint(1, 12))) + b"\r\n"
    return rng.randbytes(rng.randint(1, 64)).replace(b"\n", b"") + b"\r\n"


async def drain_replies(stream: trio.SocketStream, tally: Tally, done: trio.Event) -> None:
    """Read replies to the end, counting final lines and checking their form."""
    try:
        await count_replies(stream, tally)
    finally:
        done.set()


async def count_replies(stream: trio.SocketStream, tally: Tally) -> None:
    buffer = b""
    in_multiline = False
    try:
        while data := await stream.receive_some(65536):
            *lines, buffer = (buffer + data).split(b"\r\n")
            for line in lines:
                code, separator = line[:3], line[3:4]
                if not in_multiline:
                    if not (code.isdigit() and separator in (b" ", b"-")):
                        tally.malformed.append(repr(line[:80]))
                    in_multiline = separator == b"-"
                    tally.replies += separator == b" "
                elif code.isdigit() and separator == b" ":
                    in_multiline = False
                    tally.replies += 1
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass


async def end_session(
    stream: trio.SocketStream,
    rng: random.Random,
    tally: Tally,
    closed_by_server: Callable[[], Awaitable[object]],
) -> None:
    how = rng.choice(("quit", "close", "reset", "mid-line"))
    tally.endings[how] = tally.endings.get(how, 0) + 1
    if how == "quit":
        await stream.send_all(b"QUIT\r\n")
        tally.commands += 1
        with trio.move_on_after(10):
            await closed_by_server()
        await stream.aclose()
    elif how == "reset":
        reset(stream)
    else:
        if how == "mid-line":
            await stream.send_all(b"RETR known")
        await stream.aclose()


async def flood_session(
    host: str, port: int, rng: random.Random, tally: Tally, budget: int
) -> None:
    """One connection pouring pipelined bursts; a reader drains the replies."""
    stream = await trio.open_tcp_stream(host, port)
    try:
        async with trio.open_nursery() as nursery:
            drained = trio.Event()
            nursery.start_soon(drain_replies, stream, tally, drained)
            if rng.random() < 0.7:
                await stream.send_all(f"USER {USER}\r\nPASS {PASSWORD}\r\n".encode())
                tally.commands += 2
            sent = 0
            while sent < budget:
                burst = [garbage_line(rng) for _ in range(rng.randint(1, 300))]
                with trio.fail_after(STALLED):
                    await stream.send_all(b"".join(burst))
                sent += len(burst)
                tally.commands += len(burst)
            await end_session(stream, rng, tally, drained.wait)
            nursery.cancel_scope.cancel()
    finally:
        await stream.aclose()


async def transfer_session(
    host: str, port: int, rng: random.Random, tally: Tally, budget: int
) -> None:
    """One connection doing real transfers one by one, some cut short."""
    stream = await trio.open_tcp_stream(host, port)
    control = Replies(stream)
    try:
        await control.reply()
        await control.cmd(f"USER {USER}")
        await control.cmd(f"PASS {PASSWORD}")
        await control.cmd("TYPE I")
        tally.commands += 3
        for _ in range(max(1, budget // 4)):
            data = await open_passive(host, control, rng.choice(("PASV", "EPSV")))
            tally.commands += 1
            if data is None:
                continue
            command = rng.choice(("RETR known.bin", "LIST", "NLST sub", "MLSD", "STOR up.bin"))
            tally.commands += 1
            tally.transfers += 1
            await stream.send_all(command.encode() + b"\r\n")
            preliminary = await control.reply()
            if not preliminary.startswith((b"125", b"150")):
                await data.aclose()
                continue
            cut = rng.random() < 0.3
            if command.startswith("STOR"):
                with trio.fail_after(STALLED):
                    await data.send_all(rng.randbytes(rng.randint(0, 200_000)))
            else:
                with trio.fail_after(STALLED):
                    while await data.receive_some(65536) and not cut:
                        pass
            if cut and rng.random() < 0.5:
                reset(data)
            else:
                await data.aclose()
            if cut and rng.random() < 0.5:
                await stream.send_all(b"ABOR\r\n")
                tally.commands += 1
                # The transfer's end (426, or 226 if it won the race), then ABOR's own.
                while not (reply := await control.reply()).startswith(b"225"):
                    if b"ABOR" in reply:
                        break
            else:
                await control.reply()
        await end_session(stream, rng, tally, lambda: eof(stream))
    finally:
        await stream.aclose()


async def client(host: str, port: int, seed: int, tally: Tally, target: int, until: float) -> None:
    rng = random.Random(seed)
    while tally.commands < target and trio.current_time() < until:
        tally.sessions += 1
        budget = min(rng.choice((5, 50, 500, 5000)), max(1, target - tally.commands))
        session = transfer_session if rng.random() < 0.125 else flood_session
        try:
            with trio.move_on_at(until):
                await session(host, port, rng, tally, budget)
        except* (OSError, EOFError, trio.BrokenResourceError, trio.TooSlowError) as group:
            # The server closing first (QUIT in a burst, 3 failed logins, an HTTP
            # verb, a line past the limit) shows here as a send that failed.
            for exc in leaves(group):
                name = type(exc).__name__
                tally.client_errors[name] = tally.client_errors.get(name, 0) + 1


def leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        found.extend(leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return found


async def run_clients(
    server: ServerUnderTest, args: argparse.Namespace, tally: Tally, peaks: list[Sample]
) -> float:
    """Run the clients to the end; sample the server every half second meanwhile."""
    start = trio.current_time()
    until = start + args.seconds
    async with trio.open_nursery() as watching:
        watching.start_soon(watch, server, peaks)
        async with trio.open_nursery() as nursery:
            for index in range(args.sessions):
                seed = args.seed + index
                nursery.start_soon(
                    client, server.host, server.port, seed, tally, args.commands, until
                )
        watching.cancel_scope.cancel()
    return trio.current_time() - start


async def watch(server: ServerUnderTest, samples: list[Sample]) -> None:
    while True:
        samples.append(server.sample())
        await trio.sleep(0.5)


def peak(samples: list[Sample]) -> Sample:
    """The highest of each figure."""
    return Sample(
        samples[-1].seconds,
        max(s.fds for s in samples),
        max(s.threads for s in samples),
        max(s.rss_kib for s in samples),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fuzz a real trioftp server over sockets.")
    parser.add_argument("--commands", type=int, default=1_000_000, help="stop after N commands")
    parser.add_argument("--seconds", type=float, default=600, help="stop after S seconds")
    parser.add_argument("--sessions", type=int, default=50, help="concurrent client connections")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pacing", action="store_true", help="keep the default command pacing")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    parser.add_argument("--log", type=Path, help="keep the server's log (stderr) in this file")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        served = root / "served"
        (served / "sub").mkdir(parents=True)
        (served / KNOWN_FILE).write_bytes(KNOWN_CONTENT)
        (served / "victim.bin").write_bytes(b"renamed, deleted, chmodded by the fuzz")
        log = args.log or root / "server.log"
        with ServerUnderTest(served, log, pacing=args.pacing) as server:
            check_normal_service(server.host, server.port, KNOWN_FILE, KNOWN_CONTENT)
            before = server.trimmed()
            tally = Tally()
            samples: list[Sample] = []
            elapsed = trio.run(run_clients, server, args, tally, samples)
            during = peak(samples)
            untrimmed = server.settle(before)
            after = server.trimmed()
            served_ok = True
            try:
                check_normal_service(server.host, server.port, KNOWN_FILE, KNOWN_CONTENT)
            except (OSError, EOFError, ftplib.Error, AssertionError) as exc:
                print(f"normal service after the fuzz failed: {exc!r}", file=sys.stderr)
                served_ok = False
            crashes = server.crashes()
            print(f"Python objects that grew most: {server.object_growth()}", file=sys.stderr)
            alive = server.process.poll() is None
        figures = {"before": before, "peak": during, "untrimmed": untrimmed, "after": after}
        return report(args, tally, elapsed, figures, served_ok, crashes, alive)


def report(
    args: argparse.Namespace,
    tally: Tally,
    elapsed: float,
    samples: dict[str, Sample],
    served_ok: bool,
    crashes: list[str],
    alive: bool,
) -> int:
    before, after = samples["before"], samples["after"]
    leaked_fds = after.fds - before.fds
    grown_kib = after.rss_kib - before.rss_kib
    stalled = tally.client_errors.get("TooSlowError", 0)
    ok = served_ok and alive and not crashes and not tally.malformed and not stalled
    ok = ok and leaked_fds <= 4 and after.threads <= THREAD_BOUND and grown_kib <= RSS_SLACK_KIB
    figures = {
        "ok": ok,
        "pacing": args.pacing,
        "sessions_concurrent": args.sessions,
        "seconds": round(elapsed, 1),
        **{k: v for k, v in asdict(tally).items() if k != "malformed"},
        "malformed_replies": tally.malformed[:10],
        "commands_per_second": round(tally.commands / elapsed) if elapsed else 0,
        "server_alive": alive,
        "normal_service_after": served_ok,
        "crashes": crashes[:20],
        **{name: asdict(sample) for name, sample in samples.items()},
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"sent {tally.commands} commands in {tally.sessions} sessions, {elapsed:.1f} s")
        print(f"  read {tally.replies} final replies; {tally.transfers} transfers")
        print(f"  endings {tally.endings}; client-side errors {tally.client_errors}")
        print(f"server before: {before}")
        print(f"server peak:   {samples['peak']}")
        print(f"server after the clients: {samples['untrimmed']}")
        print(f"server after gc + malloc_trim: {after} (threads: the pool, <= {THREAD_BOUND})")
        print(f"normal login/LIST/RETR after: {'ok' if served_ok else 'FAILED'}")
        print(f"tracebacks/errors in the server log: {len(crashes)}")
        for line in crashes[:20]:
            print("   ", line)
        print(f"malformed reply lines: {len(tally.malformed)}")
        print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
