"""Zero-copy plain uploads: ``os.splice`` moves the bytes socket -> pipe -> file in the kernel.

The buffered upload pipeline (:mod:`trioftp._upload`) copies every byte twice:
from the socket into a Python buffer, then from that buffer into the page
cache. Where Linux offers :func:`os.splice` (Python 3.10 or later), a binary
upload on a plain data connection into an ordinary file of the local
filesystem moves instead through a pipe of its own: the socket's pages are
handed to the pipe, then copied once into the file.

When it is used (:func:`can_splice`): the file object is exactly one of
Python's own OS files (``io.FileIO``, or a buffered writer straight over
one) - not a wrapper that counts, hashes or converts what is written (quotas,
``hash_uploads``, a custom or fsspec filesystem's files, which then take the
buffered path) - and, checked on first use, it is a regular file. A kernel
or filesystem that refuses splice(2) on first use (``EINVAL``...), and a
file opened with ``O_APPEND`` (APPE: splice(2) refuses to write to one),
fall back to the buffered pipeline: the bytes already taken off the socket
are read back from the pipe and written through the file object first.

How it runs (:func:`splice_upload`): the event loop waits until the socket
is readable, then one call to the session's runner moves what the socket
has - up to ``disk_block_size`` bytes, or the throttle's piece - through
the pipe into the file, and returns when the socket has nothing more, at
EOF, or at that bound. Socket reads never block (``SPLICE_F_NONBLOCK`` on a
non-blocking socket) and the pipe is emptied into the file before the call
returns, so ABOR or a stall waits at most for one bounded write, as in the
buffered pipeline, and no byte taken off the socket is left in the pipe.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import fcntl
import io
import os
import stat
from collections.abc import Callable
from typing import IO, Any, Protocol, TypeVar

import trio

__all__ = ["AVAILABLE", "PIPE_SIZE", "Splicer", "can_splice", "splice_upload"]

T = TypeVar("T")

#: Whether this system has ``os.splice`` (Linux, Python 3.10 or later).
AVAILABLE = hasattr(os, "splice") and hasattr(fcntl, "F_SETPIPE_SZ")
#: Bytes an upload's pipe is asked to hold (the kernel may give less: the
#: unprivileged maximum is ``/proc/sys/fs/pipe-max-size``, 1 MiB by default).
PIPE_SIZE = 1 << 20
#: Errors meaning "this socket or file can't be spliced", on first use.
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP}
#: Python's own files: a write to them is exactly a write(2) to their descriptor.
_OS_FILES = (io.FileIO, io.BufferedWriter, io.BufferedRandom)


def can_splice(file: IO[bytes]) -> bool:
    """Whether an upload into *file* may be spliced: one of Python's own OS files, unwrapped.

    A subclass or wrapper (quota counting, upload hashing, a test's failing
    file) may do something with each write, so it is written through Python.
    """
    if not AVAILABLE or type(file) not in _OS_FILES:
        return False
    raw = file if type(file) is io.FileIO else getattr(file, "raw", None)
    return type(raw) is io.FileIO


class _Runs(Protocol):
    async def run_blocking(self, function: Callable[..., T], *args: Any) -> T: ...


class Splicer(Protocol):
    """What :func:`splice_upload` needs of its :class:`~trioftp.dtp.DTPHandler`
    (a part of :class:`trioftp._upload.Receiver`)."""

    transmitted: int
    spliced: int

    @property
    def socket(self) -> trio.abc.Stream: ...
    @property
    def cmd_channel(self) -> _Runs: ...
    @property
    def disk_block_size(self) -> int: ...

    def _progress(self) -> None: ...
    async def _after_receive(self, nbytes: int) -> None: ...
    def _receive_limit(self) -> int: ...


class _Step(enum.Enum):
    """How one blocking move through the pipe ended."""

    #: It moved its bound: more is probably waiting on the socket.
    MORE = enum.auto()
    #: The socket has nothing more now.
    WAIT = enum.auto()
    #: The client closed the connection: the upload is complete.
    EOF = enum.auto()
    #: Splicing is refused here: the rest goes through the buffered pipeline.
    FALL_BACK = enum.auto()


class _Pipe:
    """One upload's pipe and the blocking moves through it (run in the session's runner).

    The pipe is empty between moves: every byte taken off the socket is in
    the file (or read back and written by Python) before :meth:`move` returns,
    unless writing it failed.
    """

    def __init__(self, sock_fd: int, file: IO[bytes]) -> None:
        self.sock_fd = sock_fd
        self.file = file
        self.file_fd = file.fileno()
        self.read_end, self.write_end = os.pipe2(os.O_CLOEXEC)
        try:
            # A user past its pipe memory limit keeps the default size.
            with contextlib.suppress(OSError):
                fcntl.fcntl(self.write_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
            self.capacity = fcntl.fcntl(self.write_end, fcntl.F_GETPIPE_SZ)
        except BaseException:
            self.close()
            raise
        #: Bytes taken off the socket, and bytes spliced into the file.
        self.received = 0
        self.spliced = 0
        self._checked = False

    def move(self, limit: int) -> _Step:
        """Move up to *limit* bytes from the socket into the file (blocking: disk writes).

        Raises :class:`trio.BrokenResourceError` if the connection broke, and
        the disk's :class:`OSError` if writing failed.
        """
        if not self._checked:
            self._checked = True
            self.file.flush()
            if not stat.S_ISREG(os.fstat(self.file_fd).st_mode):
                return _Step.FALL_BACK
        moved = 0
        while moved < limit:
            try:
                count = os.splice(
                    self.sock_fd,
                    self.write_end,
                    min(limit - moved, self.capacity),
                    flags=os.SPLICE_F_NONBLOCK,
                )
            except BlockingIOError:
                return _Step.WAIT
            except OSError as exc:
                if exc.errno in _UNSUPPORTED and self.received == 0:
                    return _Step.FALL_BACK
                raise trio.BrokenResourceError(str(exc)) from exc
            if count == 0:
                return _Step.EOF
            self.received += count
            moved += count
            if not self._to_file(count):
                return _Step.FALL_BACK
        return _Step.MORE

    def _to_file(self, count: int) -> bool:
        """Empty the pipe's *count* bytes into the file; False if splicing into it is refused."""
        while count:
            try:
                written = os.splice(self.read_end, self.file_fd, count)
            except OSError as exc:
                if exc.errno in _UNSUPPORTED and self.spliced == 0:
                    self._write_back(count)
                    return False
                raise
            if written == 0:  # a pipe holding bytes always gives some
                raise OSError(errno.EIO, "splice into the file wrote nothing")
            count -= written
            self.spliced += written
        return True

    def _write_back(self, count: int) -> None:
        """Write the pipe's *count* bytes through the file object (the buffered way)."""
        while count:
            data = os.read(self.read_end, count)
            self.file.write(data)
            count -= len(data)

    def close(self) -> None:
        os.close(self.read_end)
        os.close(self.write_end)


async def splice_upload(dtp: Splicer, file: IO[bytes]) -> bool:
    """Splice the upload on *dtp*'s plain socket into *file* until EOF.

    Returns True once everything up to EOF is in the file, False if splicing
    is refused here: then every byte received so far is written through
    *file* and the rest must take the buffered pipeline. Raises as
    :func:`~trioftp._upload.receive_upload` does. Counts what it receives in
    ``dtp.transmitted`` and what it splices in ``dtp.spliced``; throttling
    hooks see each move.
    """
    assert isinstance(dtp.socket, trio.SocketStream)
    sock = dtp.socket.socket
    pipe = _Pipe(sock.fileno(), file)
    try:
        step = _Step.WAIT
        while True:
            if step is _Step.MORE:
                await trio.lowlevel.checkpoint()
            else:
                await trio.lowlevel.wait_readable(sock)
            limit = max(1, min(dtp.disk_block_size, dtp._receive_limit()))
            received, spliced = pipe.received, pipe.spliced
            try:
                step = await dtp.cmd_channel.run_blocking(pipe.move, limit)
            finally:
                received = pipe.received - received
                dtp.transmitted += received
                dtp.spliced += pipe.spliced - spliced
                if received:
                    dtp._progress()
            if received:
                await dtp._after_receive(received)
            if step is _Step.FALL_BACK:
                return False
            if step is _Step.EOF:
                return True
    finally:
        pipe.close()
