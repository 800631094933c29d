"""Data transfer: moving one file or listing over one data connection.

:class:`DTPHandler` is the server-DTP of RFC 959. The session opens the data
connection (passive or active), then hands it to a ``DTPHandler`` that sends a
file (through ``os.sendfile`` where it can), sends listing bytes, or receives
an upload. Disk reads and writes go through the session's
:meth:`~trioftp.handlers.FTPHandler.run_blocking` (its runner: worker threads
unless told otherwise) in large blocks, one call per block, never one per
network chunk.

This module owns the handlers' API, the buffered sending side (blocks sent
while the next block is read), the byte count and the stall timeout;
``os.sendfile`` and writes by descriptor are :mod:`trioftp._download`, an
upload's receive-and-write pipeline is :mod:`trioftp._upload`.
:class:`ThrottledDTPHandler` adds average rate limits measured on Trio's clock,
so they can be tested on :class:`trio.testing.MockClock`;
:class:`TLS_DTPHandler` sends in the piece sizes Trio's TLS stream is fastest at.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Awaitable, Callable, Iterator
from typing import IO

import trio

from ._download import regular_file_size, sendfile, write_at_once
from ._upload import receive_upload
from .filesystems import FilesystemError
from .limits import Bandwidth, MemoryShare
from .protocol.ascii import ToNetwork
from .session.core import Session
from .session.transfers import DataStalled

__all__ = ["DTPHandler", "DataStalled", "TLS_DTPHandler", "ThrottledDTPHandler"]

# Bytes per disk read for buffered downloads: one block is sent while the next
# is read, so a stalled download holds about two of them.
_READ_AHEAD = 1 << 20
# Bytes per disk read for a buffered download that finds the server's buffer
# memory budget short: taken outside the budget, so a download always goes on.
_SHORT_READ = 64 << 10


class DTPHandler:
    """Transfer the bytes of one RETR, STOR/APPE/STOU or listing.

    Configure it with class attributes, as with pyftpdlib::

        DTPHandler.timeout = 120

    *sock_obj* is the connected data stream (a :class:`trio.SocketStream`, or
    a TLS stream for FTPS) and *cmd_channel* the session's
    :class:`~trioftp.handlers.FTPHandler`.
    """

    #: Seconds a transfer may stall with no progress before it fails (``426``).
    timeout: float = 300
    #: Bytes asked of the socket per receive.
    ac_in_buffer_size: int = 65536
    #: Bytes handed to the socket per send, for buffered (non-sendfile) sends.
    ac_out_buffer_size: int = 65536
    #: Bytes read from or written to disk per runner call; an upload holds at
    #: most three such blocks in memory.
    disk_block_size: int = 4 << 20
    #: Move binary uploads on plain connections into local files with
    #: ``os.splice`` where the system offers it (see :mod:`trioftp._splice`):
    #: socket -> pipe -> file, no copy through Python. Uploads it can't take
    #: (``TYPE A``, ``APPE``, quotas, ``hash_uploads``, files that are not
    #: plain OS files; FTPS data is decrypted in Python) use the buffered
    #: pipeline, with the same replies and bytes (docs/uploads.md).
    use_splice: bool = True

    def __init__(self, sock_obj: trio.abc.Stream, cmd_channel: Session) -> None:
        self.socket = sock_obj
        self.cmd_channel = cmd_channel
        self.receive = False
        self.file_obj: IO[bytes] | None = None
        self.transmitted = 0
        #: Bytes of an upload moved into its file by ``os.splice`` (no copy in Python).
        self.spliced = 0
        self._transferring = False
        self._stall_scope: trio.CancelScope | None = None
        self._next_refresh = -math.inf
        #: The shared rate limits of this transfer: the user's and the
        #: server's token buckets (see :mod:`trioftp.limits`), if any.
        self.bandwidth: Bandwidth | None = getattr(cmd_channel, "bandwidth", None)
        #: This transfer's part of the server's buffer memory budget.
        self.memory = MemoryShare(getattr(cmd_channel, "transfer_memory", None))

    # --- what the session asks

    def get_transmitted_bytes(self) -> int:
        """Return how many bytes this transfer has moved so far."""
        return self.transmitted

    def transfer_in_progress(self) -> bool:
        """Return True while bytes are being moved."""
        return self._transferring

    async def send_file(self, file: IO[bytes], *, offset: int = 0, ascii: bool = False) -> None:
        """Send *file* from *offset* to its end, converting LF to CRLF if *ascii*."""
        self.file_obj = file
        size_at_open = regular_file_size(file)
        with self._transfer():
            done = False
            if not ascii and self._can_sendfile(file):
                offset, done = await sendfile(self, file, offset)
            if not done:
                if offset:
                    await self.cmd_channel.run_blocking(file.seek, offset)
                try:
                    await self._send_blocks(file, ToNetwork() if ascii else None)
                finally:
                    self.memory.close()
                if size_at_open is not None:
                    # At EOF the descriptor's position is where the file ended.
                    offset = os.lseek(file.fileno(), 0, os.SEEK_CUR)
        if size_at_open is not None and offset < size_at_open:
            # Cut short by someone truncating it: neither the old file nor the new one.
            raise FilesystemError(
                f"File truncated during the transfer ({offset} of {size_at_open} bytes)"
            )

    async def _send_blocks(self, file: IO[bytes], converter: ToNetwork | None) -> None:
        """Buffered send: the next block is read from disk while this one is sent.

        Each block read is paid for from the server's buffer memory budget
        until it is sent; when the budget has no room, the download reads
        pieces of 64 KiB instead (outside the budget), so it never stops.
        """
        failures: list[Exception] = []
        to_network, blocks = trio.open_memory_channel[tuple[bytes, int]](0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read_blocks, file, to_network, failures)
            try:
                async with blocks:
                    async for data, paid in blocks:
                        await self._send(converter.convert(data) if converter else data)
                        del data
                        self.memory.give_back(paid)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                failures.append(exc)
                nursery.cancel_scope.cancel()
        if failures:
            raise failures[0]

    async def _read_blocks(
        self,
        file: IO[bytes],
        to_network: trio.MemorySendChannel[tuple[bytes, int]],
        failures: list[Exception],
    ) -> None:
        memory = self.memory
        size = memory.fit(self._send_block_size())
        async with to_network:
            while True:
                paid = size if memory.try_take(size) else 0
                try:
                    data = await self.cmd_channel.run_blocking(
                        file.read, size if paid else min(size, _SHORT_READ)
                    )
                except Exception as exc:  # OSError, or a filesystem's own error
                    failures.append(exc)
                    return  # what it paid is given back when the transfer ends
                if not data:
                    memory.give_back(paid)
                    return
                try:
                    await to_network.send((data, paid))
                except trio.BrokenResourceError:  # the sending side stopped (and says why)
                    return

    async def send_chunks(self, next_chunk: Callable[[], Awaitable[bytes]]) -> None:
        """Send what *next_chunk* returns until it returns ``b""`` (LIST, NLST, MLSD)."""
        with self._transfer():
            while data := await next_chunk():
                await self._send(data)

    async def receive_file(self, file: IO[bytes], *, ascii: bool = False) -> None:
        """Write everything received until EOF into *file*, converting CRLF if *ascii*.

        Blocks of :attr:`disk_block_size` bytes are written through the
        session's runner while the next block is being received (see
        :mod:`trioftp._upload`); at most three blocks exist at once, so a
        slow disk slows the client down instead of filling memory, and each
        is paid for from the server's buffer memory budget before it is made.
        A clean EOF ends the file; a reset connection raises
        :class:`trio.BrokenResourceError` and a stalled one :class:`DataStalled`.
        Whatever ends the transfer - ABOR, a reset, a stall - every byte
        received is written first.
        """
        self.receive = True
        self.file_obj = file
        try:
            with self._transfer():
                await receive_upload(self, file, ascii=ascii)
        finally:
            self.memory.close()
        await self.cmd_channel.run_blocking(file.flush)

    async def aclose(self) -> None:
        """Close the data connection (a TLS stream sends its close_notify)."""
        if type(self.socket) is trio.SocketStream:  # a plain socket closes at once
            self.socket.socket.close()
            return
        with trio.move_on_after(5) as scope:
            scope.shield = True
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                await self.socket.aclose()
        if scope.cancelled_caught:
            await trio.aclose_forcefully(self.socket)

    # --- hooks for subclasses

    async def _after_send(self, nbytes: int) -> None:
        """Called after each send: waits for the shared download buckets, if any.

        :class:`ThrottledDTPHandler` adds its own per-connection limit here.
        """
        bandwidth = self.bandwidth
        if bandwidth is not None and bandwidth.download:
            await bandwidth.sent(nbytes)
            self._progress()

    async def _after_receive(self, nbytes: int) -> None:
        """Called after each receive: waits for the shared upload buckets, if any."""
        bandwidth = self.bandwidth
        if bandwidth is not None and bandwidth.upload:
            await bandwidth.received(nbytes)
            self._progress()

    def _send_block_size(self) -> int:
        return min(self.disk_block_size, _READ_AHEAD)

    @contextlib.contextmanager
    def _waiting_for_memory(self) -> Iterator[None]:
        """Pause the stall timeout while the transfer waits for buffer memory.

        The wait is the server's doing, not the client's: it must not count
        as the client stalling.
        """
        scope = self._stall_scope
        if scope is not None:
            scope.deadline = math.inf
        try:
            yield
        finally:
            self._next_refresh = -math.inf
            self._progress()

    def _receive_size(self) -> int:
        bandwidth = self.bandwidth
        if bandwidth is not None and bandwidth.upload:
            return bandwidth.piece_size(bandwidth.upload, self.ac_in_buffer_size)
        return self.ac_in_buffer_size

    def _receive_limit(self) -> int:
        """Most bytes to ask the socket for at once when receiving straight into a block."""
        bandwidth = self.bandwidth
        if bandwidth is not None and bandwidth.upload:
            return self._receive_size()
        return self.disk_block_size

    def _shared_piece(self, size: int) -> int:
        """*size*, cut to the smallest burst of the shared download buckets."""
        bandwidth = self.bandwidth
        if bandwidth is not None and bandwidth.download:
            return bandwidth.piece_size(bandwidth.download, size)
        return size

    def _can_sendfile(self, file: IO[bytes]) -> bool:
        if not self.cmd_channel.use_sendfile or not hasattr(os, "sendfile"):
            return False
        if self.bandwidth is not None and self.bandwidth.download:
            return False  # paced sends go through _send
        if not isinstance(self.socket, trio.SocketStream):
            return False
        try:
            file.fileno()
        except (OSError, ValueError, AttributeError):
            return False
        return True

    # --- internals

    @contextlib.contextmanager
    def _transfer(self) -> Iterator[None]:
        """Run a transfer under the stall timeout, which every bit of progress resets."""
        self._transferring = True
        try:
            with trio.CancelScope() as scope:
                self._stall_scope = scope
                self._next_refresh = -math.inf
                self._progress()
                yield
            if scope.cancelled_caught:
                raise DataStalled(f"no progress for {self.timeout:g} seconds")
        finally:
            self._transferring = False
            self._stall_scope = None

    def _progress(self) -> None:
        """Bytes moved: push the stall deadline back.

        Moving a deadline costs more than a chunk of data, so it moves at
        most 32 times per timeout: a stall is caught after between 31/32 of
        the timeout and all of it.
        """
        if self._stall_scope is not None and self.timeout:
            now = trio.current_time()
            if now >= self._next_refresh:
                self._stall_scope.deadline = now + self.timeout
                self._next_refresh = now + self.timeout / 32

    def _piece_size(self, total: int) -> int:
        """Bytes per ``send_all``: everything at once, unless throttled."""
        return self._shared_piece(max(self.ac_out_buffer_size, 1) if self._throttled() else total)

    async def _send(self, data: bytes) -> None:
        view = memoryview(data)
        step = self._piece_size(len(view)) or 1
        for start in range(0, len(view), step):
            piece = view[start : start + step]
            sent = await write_at_once(self.socket, piece)
            if sent < len(piece):
                await self.socket.send_all(piece[sent:])
            self.transmitted += len(piece)
            self._progress()
            await self._after_send(len(piece))

    def _throttled(self) -> bool:
        return self.bandwidth is not None and bool(self.bandwidth.download)


class ThrottledDTPHandler(DTPHandler):
    """A :class:`DTPHandler` that limits average transfer rates.

    Rates are bytes per second averaged since the transfer started, measured
    with :func:`trio.current_time` (so :class:`trio.testing.MockClock` drives
    them in tests). ``0`` means no limit. Set them on the class::

        ThrottledDTPHandler.read_limit = 30 * 1024   # uploads
        ThrottledDTPHandler.write_limit = 30 * 1024  # downloads
        handler.dtp_handler = ThrottledDTPHandler
    """

    #: Most bytes per second received from the client (uploads); 0: no limit.
    read_limit: int = 0
    #: Most bytes per second sent to the client (downloads); 0: no limit.
    write_limit: int = 0

    def __init__(self, sock_obj: trio.abc.Stream, cmd_channel: Session) -> None:
        super().__init__(sock_obj, cmd_channel)
        self._started: float | None = None

    def _throttled(self) -> bool:
        return bool(self.write_limit) or super()._throttled()

    def _can_sendfile(self, file: IO[bytes]) -> bool:
        return not self.write_limit and super()._can_sendfile(file)

    def _send_block_size(self) -> int:
        if self.write_limit:
            return max(1, min(super()._send_block_size(), self.write_limit))
        return super()._send_block_size()

    def _receive_size(self) -> int:
        if self.read_limit:
            return max(1, min(super()._receive_size(), self.read_limit))
        return super()._receive_size()

    def _receive_limit(self) -> int:
        return self._receive_size() if self.read_limit else super()._receive_limit()

    async def _after_send(self, nbytes: int) -> None:
        await super()._after_send(nbytes)
        await self._throttle(self.write_limit)

    async def _after_receive(self, nbytes: int) -> None:
        await super()._after_receive(nbytes)
        await self._throttle(self.read_limit)

    async def _throttle(self, limit: int) -> None:
        now = trio.current_time()
        if self._started is None:
            self._started = now
        if not limit:
            return
        ahead = self.transmitted / limit - (now - self._started)
        if ahead > 0:
            await trio.sleep(ahead)
            self._progress()


class TLS_DTPHandler(DTPHandler):
    """A :class:`DTPHandler` for protected (PROT P) data connections.

    The session puts TLS on the connection before this handler gets it (and
    closing that stream sends the close_notify FileZilla requires); this
    class sends in pieces of :attr:`ac_out_buffer_size`, the sizes at which
    Trio's TLS stream is fastest (64-256 KiB), and receives as much per call
    as the data connection's TLS stream decrypts per wakeup.
    """

    ac_out_buffer_size: int = 262144
    #: Bytes asked of the TLS stream per receive on uploads: as many as the
    #: data stream decrypts per wakeup (:data:`~trioftp.tls.datastream.DATA_BATCH`).
    ac_in_buffer_size: int = 262144

    def _piece_size(self, total: int) -> int:
        return self._shared_piece(max(self.ac_out_buffer_size, 1))
