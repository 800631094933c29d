"""A TLS stream for data connections that moves whole batches of records per wakeup.

:class:`trio.SSLStream` hands out at most one TLS record (16 KiB) per
``receive_some``, each costing a pass through the scheduler; on an FTPS
upload that costs more than the cipher. :class:`DataTLSStream` drives the
same stdlib :class:`ssl.SSLObject` over memory BIOs
(:class:`~.biostream.MemoryBIOStream`), but reads the socket in large chunks
and decrypts every complete record before it returns, and on ``send_all``
encrypts the whole buffer (many records) for one socket send.

Beyond what :class:`~.biostream.MemoryBIOStream` gives, the data path relies on:

* the transport is read only when the TLS layer needs more bytes, so after
  the peer's close_notify the transport's own end is never read (what
  :mod:`.eof`'s strict end of file needs);
* ``aclose`` after a cut-off send (an aborted download) closes without
  close_notify, at once.

Only one task may use the stream at a time (a transfer receives or sends),
except that :meth:`do_handshake` may be awaited by a second task while a
first runs it (the early handshake of :mod:`trioftp.session.tls`).
"""

from __future__ import annotations

import trio

from .biostream import MemoryBIOStream

__all__ = ["DATA_BATCH", "DataTLSStream"]

#: Bytes read from the socket at once, and at most returned by one ``receive_some``.
DATA_BATCH = 256 * 1024


class DataTLSStream(MemoryBIOStream):
    """The server side of TLS over *transport*, for a data connection (stdlib *context*)."""

    _scratch: bytearray | None = None  # what the socket is read into

    # --- the Stream interface

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        """Up to *max_bytes* (default :data:`DATA_BATCH`) of plaintext; ``b""`` at the end."""
        size = max_bytes or DATA_BATCH
        await self._before_receive()
        while not self._eof:
            # No more plaintext can come out than ciphertext went in.
            buffer = bytearray(max(1, min(size, self._incoming.pending + self._ssl.pending())))
            with memoryview(buffer) as view:
                count = self._decrypt_into(view)
            del buffer[count:]
            if count or self._eof:
                return buffer
            await self._read_transport()
        return bytearray()

    async def receive_into(self, buffer: memoryview) -> int:
        """Decrypt up to ``len(buffer)`` bytes of plaintext into *buffer*; 0 at the end.

        The upload pipeline's way in: plaintext lands in its block buffers,
        with no allocation and no copy of its own.
        """
        await self._before_receive()
        while not self._eof:
            count = self._decrypt_into(buffer)
            if count or self._eof:
                return count
            await self._read_transport()
        return 0

    async def _before_receive(self) -> None:
        """Checks before a receive: the handshake, closing, cancellation, a queued answer."""
        await self._ready()
        # The receive's scheduling point: before decrypting, never between
        # decrypting and returning (a cancel there would lose the plaintext).
        await trio.lowlevel.checkpoint()
        if self._outgoing.pending:  # a TLS 1.3 KeyUpdate's answer, queued by the last read
            await self._send(self._take_outgoing())

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt all of *data* and send it in one piece."""
        await self._ready()
        await self._send(self._encrypt(data))

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport_stream.wait_send_all_might_not_block()

    # --- the transport

    async def _send(self, records: bytes) -> None:
        if not records:
            return
        if self._broken:
            raise trio.BrokenResourceError("an earlier send on this TLS stream was cut off")
        try:
            await self.transport_stream.send_all(records)
        except BaseException:
            # Part of a record may have gone out: nothing more can follow it.
            self._broken = True
            raise

    async def _read_transport(self) -> None:
        transport = self.transport_stream
        try:
            if type(transport) is trio.SocketStream:
                # Into one reused buffer: a fresh 256 KiB per read costs page faults.
                if self._scratch is None:
                    self._scratch = bytearray(DATA_BATCH)
                try:
                    count = await transport.socket.recv_into(self._scratch)
                except OSError as exc:  # worded as trio.SocketStream words it
                    raise trio.BrokenResourceError(f"socket connection broken: {exc}") from exc
                with memoryview(self._scratch) as view:
                    self._feed(view[:count])
            else:
                self._feed(await transport.receive_some(DATA_BATCH))
        except trio.BrokenResourceError:
            raise  # as it is: UncleanEndOfStream (tls_strict_eof) must reach the transfer
        except OSError as exc:
            raise trio.BrokenResourceError(str(exc)) from exc
