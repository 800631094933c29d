"""FTP servers run as real subprocesses (the ``trioftp`` command, examples, scripts).

:class:`ServerProcess` starts a command that prints its address (an
``ftp://HOST:PORT/`` or ``ftps://HOST:PORT/`` URL) on stdout, reads that line
with a deadline (never by sleeping), and stops the process with a signal:
:meth:`ServerProcess.stop` gives the exit status, :meth:`ServerProcess.stop_cleanly`
checks a clean exit and gives stderr, :meth:`ServerProcess.rest_of_stdout`
what the process printed after its address lines.
"""

from __future__ import annotations

import ftplib
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

URL = re.compile(r"\b(ftps?)://(\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d+)/")
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


@contextmanager
def sigint_not_ignored() -> Iterator[None]:
    """Let children see SIGINT even if this process was started with it ignored.

    A process started in the background by a non-interactive shell inherits
    SIGINT as ignored, and so would its children: Python then never turns
    SIGINT into KeyboardInterrupt. Dispositions other than "ignored" are reset
    to the default by exec, so setting any handler here is enough.
    """
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def read_line(stream: IO[bytes], timeout: float) -> bytes:
    """Read one line from a pipe, failing after *timeout* seconds."""
    fd = stream.fileno()
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(remaining, 0))
        if not ready:
            raise TimeoutError(f"no complete line within {timeout} s (got {line!r})")
        byte = os.read(fd, 1)
        if not byte:
            raise EOFError(f"the process closed stdout (got {line!r})")
        line += byte
    return line


class ServerProcess:
    """A server command running as a subprocess, with its announced address.

    ``line`` is the first line the command printed (without its newline);
    ``scheme``, ``host`` and ``port`` come from the URL in it.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        stderr: IO[bytes],
        env: dict[str, str] | None,
        pass_fds: Sequence[int] = (),
    ) -> None:
        self.argv = list(argv)
        self._stderr = stderr
        with sigint_not_ignored():
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=cwd,
                env=env,
                pass_fds=pass_fds,
            )
        self.line = self.read_line()
        match = URL.search(self.line)
        assert match is not None, self.line
        self.scheme = match.group(1)
        self.host = match.group(2).strip("[]")
        self.port = int(match.group(3))

    def read_line(self) -> str:
        """The next line on stdout (without its newline), within the startup deadline."""
        assert self.proc.stdout is not None
        try:
            return read_line(self.proc.stdout, STARTUP_TIMEOUT).decode().rstrip("\n")
        except (TimeoutError, EOFError) as exc:
            self.kill()
            pytest.fail(f"{self.argv}: no line on stdout: {exc}\n{self.stderr()}")

    def ftp(self, user: str | None = None, password: str = "") -> ftplib.FTP:
        """Connect with ftplib (and log in if *user* is given)."""
        ftp = ftplib.FTP(timeout=10)
        ftp.connect(self.host, self.port)
        if user is not None:
            ftp.login(user, password)
        return ftp

    def stderr(self) -> str:
        """Everything the process wrote on stderr so far."""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def stop(self, signum: int = signal.SIGINT) -> int:
        """Send *signum*; return the exit status (fail if the process does not exit)."""
        self.proc.send_signal(signum)
        try:
            return self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.argv} did not stop on signal {signum}:\n{self.stderr()}")

    def stop_cleanly(self, signum: int = signal.SIGINT) -> str:
        """Stop with *signum*; check exit status 0 and no traceback; return stderr."""
        status = self.stop(signum)
        stderr = self.stderr()
        assert status == 0, stderr
        assert "Traceback" not in stderr, stderr
        return stderr

    def rest_of_stdout(self) -> str:
        """What the process printed on stdout after the lines read so far, up to its exit."""
        assert self.proc.stdout is not None
        return self.proc.stdout.read().decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        self.kill()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@contextmanager
def running(
    argv: Sequence[str],
    cwd: Path,
    env: dict[str, str] | None = None,
    pass_fds: Sequence[int] = (),
) -> Iterator[ServerProcess]:
    """Run *argv* as a :class:`ServerProcess`; kill it afterwards if it still runs.

    *pass_fds* are descriptors the process inherits (as for :class:`subprocess.Popen`).
    """
    with tempfile.TemporaryFile() as stderr:
        server = ServerProcess(argv, cwd=cwd, stderr=stderr, env=env, pass_fds=pass_fds)
        try:
            yield server
        finally:
            server.close()


def run_trioftp(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m trioftp ARGS`` to completion (30 s at most)."""
    return subprocess.run(
        [sys.executable, "-m", "trioftp", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=cwd,
        check=False,
    )


def trioftp_command(*args: str) -> list[str]:
    """``python -m trioftp -p 0 ARGS``."""
    return [sys.executable, "-m", "trioftp", "-p", "0", *args]


def make_share(tmp_path: Path, name: str, content: bytes) -> Path:
    """A directory ``share`` under *tmp_path* to serve, holding one file *name*."""
    path = tmp_path / "share"
    path.mkdir()
    (path / name).write_bytes(content)
    return path
