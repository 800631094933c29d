"""Zero-copy plain uploads: ``os.splice`` moves the bytes socket -> pipe -> file in the kernel.

The buffered upload pipeline (:mod:`trioftp._upload`) copies every byte twice:
from the socket into a Python buffer, then from that buffer into the page
cache. Where Linux offers :func:`os.splice` (Python 3.10 or later), a binary
upload on a plain data connection into an ordinary file of the local
filesystem moves instead through a pipe of its own: the socket's pages are
handed to the pipe, then copied once into the file.

When it is used (:func:`can_splice`): the file object is exactly one of
Python's own OS files (``io.FileIO``, or a buffered writer straight over
one) on a regular file - not a wrapper that counts, hashes or converts what
is written (quotas, ``hash_uploads``, the files of ``FsspecFS`` or of any
filesystem whose files are not plain OS files: they take the buffered path).
A kernel or filesystem that refuses splice(2) on first use (``EINVAL``...),
and a file opened with ``O_APPEND`` (APPE: splice(2) refuses to write to
one), fall back to the buffered pipeline: the bytes already in the pipe are
read back and written through the file object first.

How it runs (:func:`splice_upload`): on the event loop, each time the socket
is readable, a non-blocking splice hands what it holds to the pipe (no copy,
no thread: the kernel passes page references, as cheap as a ``recv`` into a
reused buffer). Once the pipe holds :data:`WRITE_AT` bytes, is full, or the
upload ends, one call to the session's runner empties it into the file and,
while the client keeps the socket full, goes on moving socket -> pipe ->
file, up to ``disk_block_size`` bytes (or the throttle's piece) per call. A
slow client thus costs a runner call per :data:`WRITE_AT` bytes, not per
segment; ABOR or a stall waits at most for one bounded write, and whatever
ends the upload, every byte taken off the socket is written first, as in
the buffered pipeline.
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
from contextlib import AbstractContextManager
from typing import IO, Any, Protocol, TypeVar

import trio

from .limits import MemoryShare

__all__ = [
    "AVAILABLE",
    "PIPE_SIZE",
    "WRITE_AT",
    "Runs",
    "Splicer",
    "can_splice",
    "splice_upload",
]

T = TypeVar("T")

#: Whether this system has ``os.splice`` (Linux, Python 3.10 or later).
AVAILABLE = hasattr(os, "splice") and hasattr(fcntl, "F_SETPIPE_SZ")
#: Bytes an upload's pipe is asked to hold (the kernel may give less: the
#: unprivileged maximum is ``/proc/sys/fs/pipe-max-size``, 1 MiB by default).
PIPE_SIZE = 1 << 20
#: Bytes of the pipe an upload waits for from the server's buffer memory
#: budget, as the buffered pipeline's first block (the rest of
#: :data:`PIPE_SIZE` only if the budget has it free); the pipe is emptied into
#: the file once it holds them, or fills up first (a slow client's small
#: segments take a page each).
WRITE_AT = 256 << 10
#: Errors meaning "this socket or file can't be spliced", on first use.
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP}
#: Python's own files: a write to them is exactly a write(2) to their descriptor.
_OS_FILES = (io.FileIO, io.BufferedWriter, io.BufferedRandom)


def can_splice(file: IO[bytes]) -> bool:
    """Whether an upload into *file* may be spliced: an unwrapped OS file on a regular file.

    A subclass or wrapper (quota counting, upload hashing, a test's failing
    file) may do something with each write, so it is written through Python.
    """
    if not AVAILABLE or type(file) not in _OS_FILES:
        return False
    raw = file if type(file) is io.FileIO else getattr(file, "raw", None)
    if type(raw) is not io.FileIO:
        return False
    try:  # an open descriptor's status: no disk access (sendfile's check does the same)
        return stat.S_ISREG(os.fstat(file.fileno()).st_mode)
    except (OSError, ValueError):
        return False


class Runs(Protocol):
    """The session, as far as blocking file work needs it."""

    async def run_blocking(self, function: Callable[..., T], *args: Any) -> T: ...


class Splicer(Protocol):
    """What :func:`splice_upload` needs of its :class:`~trioftp.dtp.DTPHandler`
    (a part of :class:`trioftp._upload.Receiver`)."""

    transmitted: int
    spliced: int
    #: The transfer's part of the server's buffer memory budget.
    memory: MemoryShare

    @property
    def socket(self) -> trio.abc.Stream: ...
    @property
    def cmd_channel(self) -> Runs: ...
    @property
    def disk_block_size(self) -> int: ...

    def _progress(self) -> None: ...
    async def _after_receive(self, nbytes: int) -> None: ...
    def _receive_limit(self) -> int: ...
    def _waiting_for_memory(self) -> AbstractContextManager[None]: ...


class _Step(enum.Enum):
    """How a runner call that emptied the pipe ended."""

    #: It moved its bound: more is probably waiting on the socket.
    MORE = enum.auto()
    #: The socket has nothing more now.
    WAIT = enum.auto()
    #: The client closed the connection: the upload is complete.
    EOF = enum.auto()
    #: Splicing into the file is refused: the rest takes the buffered pipeline.
    FALL_BACK = enum.auto()


class _Refused(Exception):
    """The socket can't be spliced (first use, nothing taken off it)."""


class _Pipe:
    """One upload's pipe: filled from the socket on the event loop, emptied in the runner.

    ``held`` bytes are in the pipe; :meth:`fill` adds to them, :meth:`write`
    (blocking) empties the pipe into the file and may move more.
    """

    def __init__(self, sock_fd: int, file: IO[bytes], size: int) -> None:
        self.sock_fd = sock_fd
        self.file = file
        self.file_fd = file.fileno()
        self.read_end, self.write_end = os.pipe2(os.O_CLOEXEC)
        #: Most bytes the pipe is given to hold (the kernel rounds its size up;
        #: a user past its pipe memory limit keeps the default size).
        self.capacity = 0
        try:
            self.resize(size)
        except BaseException:
            self.close()
            raise
        #: Bytes in the pipe, bytes taken off the socket, bytes spliced into the file.
        self.held = 0
        self.received = 0
        self.spliced = 0
        self._flushed = False

    def fill(self, limit: int) -> int | None:
        """Splice up to *limit* bytes the socket holds into the pipe, without blocking.

        Returns the count (0: EOF), or None if the socket has nothing now or
        the pipe is full. Raises :class:`_Refused` if the kernel refuses
        splicing this socket at first, :class:`trio.BrokenResourceError` if the
        connection broke.
        """
        room = min(limit, self.capacity - self.held)
        if room <= 0:
            return None
        try:
            count = os.splice(self.sock_fd, self.write_end, room, flags=os.SPLICE_F_NONBLOCK)
        except BlockingIOError:
            return None
        except OSError as exc:
            if exc.errno in _UNSUPPORTED and self.received == 0:
                raise _Refused from exc
            raise trio.BrokenResourceError(str(exc)) from exc
        self.held += count
        self.received += count
        return count

    def write(self, limit: int) -> _Step:
        """Empty the pipe into the file, then move on socket -> pipe -> file while
        the socket has bytes, up to *limit* more (blocking: disk writes).

        Raises the disk's :class:`OSError` if writing failed, and as
        :meth:`fill` does. With *limit* 0 it only empties the pipe.
        """
        if not self._flushed:
            self._flushed = True
            self.file.flush()  # nothing buffered in Python may land after the spliced bytes
        if not self._empty():
            return _Step.FALL_BACK
        moved = 0
        while moved < limit:
            count = self.fill(min(limit - moved, self.capacity))
            if count is None:
                return _Step.WAIT
            if count == 0:
                return _Step.EOF
            moved += count
            if not self._empty():
                return _Step.FALL_BACK
        return _Step.MORE

    def _empty(self) -> bool:
        """Splice what the pipe holds into the file; False if the file refuses splicing."""
        while self.held:
            try:
                written = os.splice(self.read_end, self.file_fd, self.held)
            except OSError as exc:
                if exc.errno in _UNSUPPORTED and self.spliced == 0:
                    self._write_back()
                    return False
                raise
            if written == 0:  # a pipe holding bytes always gives some
                raise OSError(errno.EIO, "splice into the file wrote nothing")
            self.held -= written
            self.spliced += written
        return True

    def _write_back(self) -> None:
        """Write what the pipe holds through the file object (the buffered way)."""
        while self.held:
            data = os.read(self.read_end, self.held)
            self.file.write(data)
            self.held -= len(data)

    def resize(self, size: int) -> None:
        """Make the (empty) pipe hold up to *size* bytes, if the kernel allows."""
        with contextlib.suppress(OSError):
            fcntl.fcntl(self.write_end, fcntl.F_SETPIPE_SZ, size)
        self.capacity = min(size, fcntl.fcntl(self.write_end, fcntl.F_GETPIPE_SZ))

    def close(self) -> None:
        os.close(self.read_end)
        os.close(self.write_end)


async def splice_upload(dtp: Splicer, file: IO[bytes]) -> bool:
    """Splice the upload on *dtp*'s plain socket into *file* until EOF.

    Returns True once everything up to EOF is in the file, False if splicing
    is refused here: then every byte received so far is written through
    *file* and the rest must take the buffered pipeline. Raises as
    :func:`~trioftp._upload.receive_upload` does, once the bytes in the pipe
    are written (a cancel - ABOR, the stall timeout - and a reset too). Counts what
    it receives in ``dtp.transmitted`` and what it splices in
    ``dtp.spliced``; the throttling hooks see every byte received.
    """
    assert isinstance(dtp.socket, trio.SocketStream)
    sock = dtp.socket.socket
    memory = dtp.memory
    paid = memory.fit(min(dtp.disk_block_size, WRITE_AT))
    with dtp._waiting_for_memory():
        await memory.take(paid)
    try:
        pipe = _Pipe(sock.fileno(), file, paid)
    except BaseException:
        memory.give_back(paid)
        raise
    write_at = min(WRITE_AT, pipe.capacity)
    try:
        woken = False
        while True:
            limit = max(1, min(dtp.disk_block_size, dtp._receive_limit()))
            try:
                count = pipe.fill(limit)
            except _Refused:
                return False
            if count is None:
                if pipe.held and (woken or pipe.held >= pipe.capacity):
                    # Readable, yet nothing fits: the pipe is full.
                    step = await _write(dtp, pipe, limit)
                else:
                    await trio.lowlevel.wait_readable(sock)
                    woken = True
                    continue
            elif count == 0:
                step = await _write(dtp, pipe, 0) if pipe.held else _Step.EOF
                return step is not _Step.FALL_BACK
            else:
                await _received(dtp, count)
                if pipe.held < write_at:
                    woken = False
                    continue
                step = await _write(dtp, pipe, limit)
            if step is _Step.FALL_BACK:
                return False
            if step is _Step.EOF:
                return True
            woken = False
            if step is _Step.MORE:
                # A fast client: a larger pipe, if the budget has it free now.
                more = memory.fit(PIPE_SIZE) - paid
                if more > 0 and pipe.capacity == paid and memory.try_take(more):
                    paid += more
                    pipe.resize(paid)
                await trio.lowlevel.checkpoint()
    except BaseException:
        # ABOR, a stall, a reset: what the pipe holds is written first.
        if pipe.held:
            with trio.CancelScope(shield=True), contextlib.suppress(Exception):
                await _write(dtp, pipe, 0)
        raise
    finally:
        pipe.close()
        memory.give_back(paid)  # the buffered pipeline, if it follows, pays for its own


async def _received(dtp: Splicer, count: int) -> None:
    dtp.transmitted += count
    dtp._progress()
    await dtp._after_receive(count)


async def _write(dtp: Splicer, pipe: _Pipe, limit: int) -> _Step:
    """Empty the pipe and move on up to *limit* bytes, in the runner; count what it moved."""
    received, spliced = pipe.received, pipe.spliced
    try:
        step = await dtp.cmd_channel.run_blocking(pipe.write, limit)
    finally:
        dtp.spliced += pipe.spliced - spliced
        received = pipe.received - received
        if received:
            dtp.transmitted += received
            dtp._progress()
    if received:
        await dtp._after_receive(received)
    return step
