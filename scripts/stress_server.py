"""The server under test of ``fuzz_server.py`` and ``soak.py``, and how to watch it.

Run as a program (``python scripts/stress_server.py DIR``), it serves *DIR*
over FTP on 127.0.0.1 (a free port) with the stock ``FTPHandler`` and
``FTPServer``, user ``user``/``pass`` (full rights) and anonymous, and prints
``ftp://127.0.0.1:PORT/`` once it accepts connections. Warnings and errors,
tracebacks included, go to stderr. ``--no-pacing`` sets
``max_commands_per_second = 0`` on the handler class (there is no command
line option for it): one client connection may then send as fast as it can.
``SIGUSR1`` makes it collect garbage and trim the C allocator
(:func:`release_free_memory`), so that RSS shows what it still holds.

Imported, :class:`ServerUnderTest` starts that program as a subprocess and
reads its descriptors, threads and memory from ``/proc``;
:func:`check_normal_service` logs in, lists and downloads with ``ftplib``;
:class:`Replies`, :func:`open_passive` and :func:`reset` are the small FTP
client pieces the two scripts share.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import dataclasses
import ftplib
import gc
import io
import json
import logging
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import trio

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler
from trioftp.servers import FTPServer

USER, PASSWORD = "user", "pass"
#: The server keeps a pool of worker threads (``FTPServer.max_worker_threads``)
#: once they were needed: threads up to this many are that pool, not a leak.
THREAD_BOUND = 1 + FTPServer.max_worker_threads
#: Seconds without progress (a reply line, a send accepted) that count as a
#: stalled session: the clients fail it with ``trio.TooSlowError``.
STALLED = 60
#: RSS growth past this after a run counts as a leak (the allocator keeps some).
RSS_SLACK_KIB = 64 * 1024
_OBJECTS = "gc objects: "
_URL = re.compile(rb"ftp://([0-9.]+):(\d+)/")


def release_free_memory(signum: int = 0, frame: object = None) -> None:
    """Collect garbage and give the C allocator's free pages back to the system.

    glibc keeps freed memory in per-thread arenas (one per worker thread):
    without this, RSS after a load shows what the allocator kept, not what
    the server still holds.
    """
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    kinds = collections.Counter(type(thing).__qualname__ for thing in gc.get_objects())
    sys.stderr.write(f"{_OBJECTS}{kinds.total()} {json.dumps(dict(kinds))}\n")
    sys.stderr.flush()


def serve(directory: str, pacing: bool) -> None:
    signal.signal(signal.SIGUSR1, release_free_memory)
    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, directory, perm="elradfmwMT")
    authorizer.add_anonymous(directory)
    attributes: dict[str, object] = {"authorizer": authorizer, "auth_failed_timeout": 0}
    if not pacing:
        attributes["max_commands_per_second"] = 0
    handler: type[FTPHandler] = type("StressHandler", (FTPHandler,), attributes)
    server = FTPServer(("127.0.0.1", 0), handler)
    server.max_cons = 1024
    host, port = server.address[:2]
    print(f"ftp://{host}:{port}/", flush=True)
    server.serve_forever(handle_exit=True)


@dataclass(frozen=True)
class Sample:
    """One look at the server process."""

    seconds: float  #: since the server started
    fds: int  #: open file descriptors (/proc/PID/fd)
    threads: int  #: threads (/proc/PID/task)
    rss_kib: int  #: resident memory (VmRSS in /proc/PID/status)
    objects: int | None = None  #: objects the garbage collector tracks (trimmed samples)

    def __str__(self) -> str:
        text = f"{self.fds} fds, {self.threads} threads, {self.rss_kib / 1024:.1f} MiB RSS"
        return text if self.objects is None else f"{text}, {self.objects} Python objects"


class ServerUnderTest:
    """``python scripts/stress_server.py DIR`` as a subprocess, stderr to *log*."""

    def __init__(self, directory: Path, log: Path, *, pacing: bool = True) -> None:
        self.directory = directory
        self.log = log
        command = [sys.executable, str(Path(__file__).resolve()), str(directory)]
        if not pacing:
            command.append("--no-pacing")
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self._log_file)
        self.started = time.monotonic()
        self.host, self.port = self._read_address()

    def _read_address(self) -> tuple[str, int]:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 30)
        line = self.process.stdout.readline() if ready else b""
        found = _URL.search(line)
        if not found:
            self.stop()
            raise RuntimeError(f"the server did not start: {self.log.read_text()}")
        return found.group(1).decode(), int(found.group(2))

    @property
    def pid(self) -> int:
        return self.process.pid

    def sample(self) -> Sample:
        status = Path(f"/proc/{self.pid}/status").read_text()
        rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        return Sample(
            round(time.monotonic() - self.started, 1),
            len(os.listdir(f"/proc/{self.pid}/fd")),
            len(os.listdir(f"/proc/{self.pid}/task")),
            rss,
        )

    def settle(self, baseline: Sample, *, fd_slack: int = 4, seconds: float = 30) -> Sample:
        """Sample until descriptors are back near *baseline* (or time is up)."""
        deadline = time.monotonic() + seconds
        while True:
            now = self.sample()
            settled = now.fds <= baseline.fds + fd_slack
            if settled or time.monotonic() > deadline:
                return now
            time.sleep(0.5)

    def trimmed(self) -> Sample:
        """A sample after the server collected garbage and trimmed its allocator (SIGUSR1)."""
        self.process.send_signal(signal.SIGUSR1)
        time.sleep(1)
        counts = [line for line in self.log.read_text().splitlines() if line.startswith(_OBJECTS)]
        objects = int(counts[-1].removeprefix(_OBJECTS).split()[0]) if counts else None
        return dataclasses.replace(self.sample(), objects=objects)

    def object_growth(self, top: int = 8) -> dict[str, int]:
        """The kinds of Python objects whose number grew most between the first and
        the last trimmed sample."""
        counts = [
            json.loads(line.removeprefix(_OBJECTS).split(" ", 1)[1])
            for line in self.log.read_text().splitlines()
            if line.startswith(_OBJECTS)
        ]
        if len(counts) < 2:
            return {}
        first, last = collections.Counter(counts[0]), collections.Counter(counts[-1])
        return dict((last - first).most_common(top))

    def thread_names(self) -> list[str]:
        tasks = Path(f"/proc/{self.pid}/task")
        return sorted((task / "comm").read_text().strip() for task in tasks.iterdir())

    def crashes(self) -> list[str]:
        """Lines of the server's log that tell of a bug: tracebacks and errors."""
        text = self.log.read_text(errors="replace")
        return [
            line
            for line in text.splitlines()
            if line.startswith(("Traceback", "ERROR", "CRITICAL")) or "unhandled error" in line
        ]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()
        return self.process.returncode

    def __enter__(self) -> ServerUnderTest:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def check_normal_service(host: str, port: int, name: str, content: bytes) -> None:
    """Log in, LIST and RETR *name* as an ordinary client; raise if anything is off."""
    with ftplib.FTP() as ftp:
        ftp.connect(host, port, timeout=20)
        ftp.login(USER, PASSWORD)
        listing: list[str] = []
        ftp.retrlines("LIST", listing.append)
        if not any(line.endswith(" " + name) for line in listing):
            raise AssertionError(f"{name} missing from LIST: {listing}")
        received = io.BytesIO()
        ftp.retrbinary(f"RETR {name}", received.write)
        if received.getvalue() != content:
            raise AssertionError(f"RETR {name} gave {len(received.getvalue())} wrong bytes")
        ftp.quit()


def reset(stream: trio.SocketStream) -> None:
    """Close with a TCP RST instead of a FIN."""
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    stream.socket.close()


async def eof(stream: trio.SocketStream) -> None:
    while await stream.receive_some(65536):
        pass


class Replies:
    """Reads one reply at a time (for the transfer sessions)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            with trio.fail_after(STALLED):
                data = await self.stream.receive_some(65536)
            if not data:
                raise EOFError
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    async def reply(self) -> bytes:
        first = line = await self.line()
        if first[3:4] == b"-":
            while not line.startswith(first[:3] + b" "):
                line = await self.line()
        return first

    async def cmd(self, text: str) -> bytes:
        await self.stream.send_all(text.encode() + b"\r\n")
        return await self.reply()


async def open_passive(host: str, control: Replies, command: str) -> trio.SocketStream | None:
    """PASV or EPSV, then connect to the port it gives (None if it was refused)."""
    reply = await control.cmd(command)
    if command == "PASV" and reply.startswith(b"227"):
        numbers = reply[reply.index(b"(") + 1 : reply.index(b")")].split(b",")
        port = int(numbers[4]) * 256 + int(numbers[5])
    elif command == "EPSV" and reply.startswith(b"229"):
        port = int(reply.split(b"|||")[1].split(b"|")[0])
    else:
        return None
    return await trio.open_tcp_stream(host, port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--no-pacing", action="store_true", help="max_commands_per_second = 0")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    serve(args.directory, pacing=not args.no_pacing)


if __name__ == "__main__":
    main()
