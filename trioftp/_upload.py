"""The upload pipeline: received bytes gathered into blocks, written while the next arrives.

:meth:`DTPHandler.receive_file <trioftp.dtp.DTPHandler.receive_file>` hands
its upload to :func:`receive_upload`. The receiving side fills blocks of
``disk_block_size`` bytes - reused buffers received into for a binary upload
(``recv_into`` on a plain socket, decrypted into by
:meth:`~trioftp.tls.datastream.DataTLSStream.receive_into` under TLS),
``receive_some`` chunks gathered into a list for anything else (TYPE A, a
custom stream) - and queues each block for the writer, a task that writes
it with one call to the session's runner (worker threads unless told
otherwise) while the next block is being received. At most three blocks
exist at once, so a slow disk slows the client down instead of filling
memory; whatever ends the upload, every byte received is written first.

Each block is paid for from the server's buffer memory budget (see
:mod:`trioftp.limits.memory`) before it is made. The first one is small
(:data:`FIRST_BLOCK`) and waits for budget; the next two are full blocks,
made only if the budget has them free at once (otherwise the upload goes on
with the blocks it has). So an upload that stalls at once holds little of
the budget, and many can wait on slow clients before the budget runs out.
A block is never larger than the whole budget.

The transfer handler keeps what is its own (see :class:`Receiver`): the byte
count, the stall timeout and the throttling hooks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import IO, Protocol, TypeVar

import trio

from . import _splice
from .protocol.ascii import ToDisk
from .tls.datastream import DataTLSStream

__all__ = [
    "BUFFERS",
    "FIRST_BLOCK",
    "WRITE_SIZE",
    "Block",
    "Receiver",
    "receive_upload",
    "write_chunks",
]

T = TypeVar("T")

#: A block's place: its buffer (received into, reused once written), or -
#: for a block gathered from received chunks - just its size.
Place = bytearray | int
#: What the receiving side hands the disk writer: the chunks to write, and
#: the block's place, handed back for reuse once they are written.
Block = tuple[list[bytes | bytearray | memoryview], Place]
#: Block buffers per upload: one being received into, one queued, one being written.
BUFFERS = 3
#: Bytes of an upload's first block (``disk_block_size`` if smaller).
FIRST_BLOCK = 256 << 10
#: Bytes per write(2) call: a block is written in pieces, still in one runner
#: call. Writes of 256 KiB or more often took 3-4x the kernel time per byte
#: here (1 GiB in 1 MiB writes: 0.9-2.1 s, in 128 KiB writes: 0.25-0.3 s);
#: half the calls of 64 KiB pieces also halve a worker thread's GIL round
#: trips while a TLS upload keeps the event loop busy.
WRITE_SIZE = 128 << 10


class Receiver(_splice.Splicer, Protocol):
    """What the pipeline needs of its :class:`~trioftp.dtp.DTPHandler`: what
    the splice path needs, and more.

    The underscored members are the handler's own hooks, which
    :class:`~trioftp.dtp.ThrottledDTPHandler` overrides to limit the rate.
    """

    @property
    def use_splice(self) -> bool: ...

    def _receive_size(self) -> int: ...


def write_chunks(file: IO[bytes], chunks: list[bytes | bytearray | memoryview]) -> None:
    """Write *chunks* in pieces of about :data:`WRITE_SIZE` (blocking).

    Large chunks are cut; small ones (a TLS stream yields 16 KiB records) are
    joined, since a write(2) per record costs more than copying them.
    """
    small: list[bytes | bytearray | memoryview] = []
    small_size = 0
    for chunk in chunks:
        if len(chunk) < WRITE_SIZE:
            small.append(chunk)
            small_size += len(chunk)
            if small_size >= WRITE_SIZE:
                file.write(b"".join(small))
                small, small_size = [], 0
            continue
        if small:
            file.write(b"".join(small))
            small, small_size = [], 0
        view = memoryview(chunk)
        for start in range(0, len(view), WRITE_SIZE):
            file.write(view[start : start + WRITE_SIZE])
    if small:
        file.write(b"".join(small))


async def receive_upload(dtp: Receiver, file: IO[bytes], *, ascii: bool) -> None:
    """Write everything *dtp*'s connection delivers until EOF into *file*.

    CRLF becomes LF if *ascii*. Raises the first disk error if writing
    failed, otherwise :class:`trio.BrokenResourceError` (or
    :class:`trio.ClosedResourceError`) if the connection broke; a cancel
    (ABOR, the stall timeout) propagates once the received bytes are written.
    The file is not flushed. A binary upload on a plain socket into an OS
    file is spliced (see :mod:`trioftp._splice`) where the system allows it.
    """
    if (
        not ascii
        and dtp.use_splice
        and isinstance(dtp.socket, trio.SocketStream)
        and _splice.can_splice(file)
        and await _splice.splice_upload(dtp, file)
    ):
        return
    to_disk, blocks = trio.open_memory_channel[Block](1)
    write_errors: list[Exception] = []
    broken: trio.BrokenResourceError | trio.ClosedResourceError | None = None
    async with trio.open_nursery() as nursery:
        recycled = _start_writer(nursery, dtp.cmd_channel, file, blocks, write_errors)
        try:
            async with to_disk:
                receive_into = None if ascii else _receive_into(dtp.socket)
                if receive_into is None:
                    places = _Blocks(dtp, recycled, buffers=False)
                    await _receive_chunks(dtp, to_disk, places, ToDisk() if ascii else None)
                else:
                    places = _Blocks(dtp, recycled, buffers=True)
                    await _receive_into_blocks(dtp, receive_into, to_disk, places)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            broken = exc
    if write_errors:
        raise write_errors[0]
    if broken is not None:
        raise broken


#: ``receive_into(view)``: bytes received into *view*, 0 at the end of the upload.
ReceiveInto = Callable[[memoryview], Awaitable[int]]


def _receive_into(stream: trio.abc.Stream) -> ReceiveInto | None:
    """How to receive straight into block buffers from *stream*, if it can."""
    if isinstance(stream, DataTLSStream):  # FTPS: decrypted into the buffer
        return stream.receive_into
    if isinstance(stream, trio.SocketStream):
        sock = stream.socket

        async def receive_into(view: memoryview) -> int:
            try:
                return await sock.recv_into(view)
            except OSError as exc:
                raise trio.BrokenResourceError(str(exc)) from exc

        return receive_into
    return None


def _start_writer(
    nursery: trio.Nursery,
    session: _splice.Runs,
    file: IO[bytes],
    blocks: trio.MemoryReceiveChannel[Block],
    errors: list[Exception],
) -> trio.MemoryReceiveChannel[Place]:
    """Start the disk writer; return the channel that hands written blocks' places back."""
    give_back, recycled = trio.open_memory_channel[Place](BUFFERS)
    nursery.start_soon(
        _write_blocks, session, file, blocks, give_back, errors, nursery.cancel_scope
    )
    return recycled


async def _write_blocks(
    session: _splice.Runs,
    file: IO[bytes],
    blocks: trio.MemoryReceiveChannel[Block],
    give_back: trio.MemorySendChannel[Place],
    errors: list[Exception],
    receiving: trio.CancelScope,
) -> None:
    """Write each received block; after a disk error, stop the receiving side."""
    with trio.CancelScope(shield=True):  # queued bytes are written whatever happens
        async with blocks:
            async for chunks, place in blocks:
                if not errors:
                    try:
                        await session.run_blocking(write_chunks, file, chunks)
                    except Exception as exc:  # OSError, or a filesystem's own error
                        errors.append(exc)
                        receiving.cancel()
                give_back.send_nowait(place)


class _Blocks:
    """The blocks of one upload: at most :data:`BUFFERS`, each paid for before it is made.

    *buffers*: blocks are ``bytearray`` buffers received into (reused once
    written); otherwise a block is a list of received chunks, and what is
    handed back and reused is only its place, its size.
    """

    def __init__(
        self,
        dtp: Receiver,
        recycled: trio.MemoryReceiveChannel[Place],
        *,
        buffers: bool,
    ) -> None:
        self._dtp = dtp
        self._recycled = recycled
        self._buffers = buffers
        self._made = 0
        #: Bytes per block: ``disk_block_size``, never more than the whole budget.
        self.size = dtp.memory.fit(dtp.disk_block_size)

    async def next(self) -> Place:
        """The next block to fill: one written and handed back, or a new one.

        The first block (:data:`FIRST_BLOCK`) waits for budget (the stall
        timeout paused: the wait is the server's, not the client's); full
        blocks are made only if the budget has them free now, otherwise the
        upload waits for one of its own.
        """
        try:
            return self._recycled.receive_nowait()
        except trio.WouldBlock:
            pass
        memory = self._dtp.memory
        if self._made == 0:
            size = min(self.size, FIRST_BLOCK)
            with self._dtp._waiting_for_memory():
                await memory.take(size)
        elif self._made < BUFFERS and memory.try_take(self.size):
            size = self.size
        else:
            return await self._recycled.receive()
        self._made += 1
        # Made as needed: a small upload touches only the pages it fills.
        return bytearray(size) if self._buffers else size


async def _receive_into_blocks(
    dtp: Receiver,
    receive_into: ReceiveInto,
    to_disk: trio.MemorySendChannel[Block],
    blocks: _Blocks,
) -> None:
    """Binary upload: received straight into reused block buffers, no copies."""
    while True:
        buffer = await blocks.next()
        assert isinstance(buffer, bytearray)
        view, filled, at_eof = memoryview(buffer), 0, False
        try:
            while filled < len(buffer):
                wanted = min(len(buffer) - filled, dtp._receive_limit())
                received = await receive_into(view[filled : filled + wanted])
                if not received:
                    at_eof = True
                    break
                filled += received
                dtp.transmitted += received
                dtp._progress()
                await dtp._after_receive(received)
        finally:
            with trio.CancelScope(shield=True):
                await to_disk.send(([view[:filled]], buffer))
        if at_eof:
            return


async def _receive_chunks(
    dtp: Receiver,
    to_disk: trio.MemorySendChannel[Block],
    blocks: _Blocks,
    converter: ToDisk | None,
) -> None:
    """Any other upload (TYPE A, a custom stream): ``receive_some`` chunks gathered into blocks.

    A block is asked for no more than it can still hold, so it never grows
    past its size.
    """
    pending: list[bytes | bytearray | memoryview] = []
    pending_size = 0
    place = await blocks.next()
    try:
        while True:
            assert isinstance(place, int)
            wanted = max(1, min(dtp._receive_size(), place - pending_size))
            data = await dtp.socket.receive_some(wanted)
            if not data:
                break
            dtp.transmitted += len(data)
            dtp._progress()
            if converter is not None:
                data = converter.convert(data)
            pending.append(data)
            pending_size += len(data)
            await dtp._after_receive(len(data))
            if pending_size >= place:
                # Only forget the block once the writer has it: a cancel
                # here leaves it in *pending* for the shielded send below.
                await to_disk.send((pending, place))
                pending, pending_size = [], 0
                place = await blocks.next()
        if converter is not None:
            pending.append(converter.flush())
    finally:
        if pending:
            with trio.CancelScope(shield=True):
                await to_disk.send((pending, place))
