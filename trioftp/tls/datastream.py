"""A TLS stream for data connections that moves whole batches of records per wakeup.

:class:`trio.SSLStream` hands out at most one TLS record (16 KiB) per
``receive_some``, each costing a pass through the scheduler; on an FTPS
upload that costs more than the cipher. :class:`DataTLSStream` drives the
same stdlib :class:`ssl.SSLObject` over memory BIOs, but reads the socket in
large chunks and decrypts every complete record before it returns, and on
``send_all`` encrypts the whole buffer (many records) for one socket send.

Its semantics are those the FTPS data path relies on:

* an end of the transport without close_notify reads as the end of the
  stream when the context says so (``OP_IGNORE_UNEXPECTED_EOF``, trioftp's
  default); otherwise, and for a reset, :class:`trio.BrokenResourceError`;
* the transport is read only when the TLS layer needs more bytes, so after
  the peer's close_notify the transport's own end is never read (what
  :mod:`.eof`'s strict end of file needs);
* no await comes between decrypting and returning, so a cancelled
  ``receive_some`` loses no data;
* TLS 1.3 session tickets are held back until the first record we send, as
  :class:`trio.SSLStream` does (sent at once, they would sit unread on an
  upload's connection and the client's close would reset it, losing the
  upload's tail); ``aclose`` sends them with close_notify, without waiting
  for the peer's - unless a send was cut off (an aborted download), when
  it closes without close_notify, at once.

Only one task may use the stream at a time (a transfer receives or sends),
except that :meth:`do_handshake` may be awaited by a second task while a
first runs it (the early handshake of :mod:`trioftp.session.tls`).
"""

from __future__ import annotations

import contextlib
import ssl
from typing import cast

import trio

from .eof import UncleanEndOfStream

__all__ = ["DATA_BATCH", "DataTLSStream"]

#: Bytes read from the socket at once, and at most returned by one ``receive_some``.
DATA_BATCH = 256 * 1024


class DataTLSStream(trio.abc.Stream):
    """The server side of TLS over *transport*, for a data connection (stdlib *context*)."""

    def __init__(self, transport: trio.abc.Stream, context: ssl.SSLContext) -> None:
        #: The stream underneath (the TCP connection, maybe wrapped).
        self.transport_stream = transport
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._handshake_done = trio.Event()
        self._handshake_started = False
        self._handshake_error: BaseException | None = None
        self._held = b""  # TLS 1.3 session tickets, sent with our first record
        self._eof = False
        self._closed = False
        self._broken = False  # a send was cut off (cancelled, failed)
        self._scratch: bytearray | None = None  # what the socket is read into

    # --- what the session asks of a TLS stream

    @property
    def context(self) -> ssl.SSLContext:
        """The context the handshake ended on (an SNI callback may have switched it)."""
        return self._ssl.context

    @property
    def session(self) -> ssl.SSLSession | None:
        """The TLS session (None before the handshake)."""
        return self._ssl.session

    @property
    def session_reused(self) -> bool:
        """True if the client resumed an earlier TLS session."""
        return self._ssl.session_reused

    def version(self) -> str | None:
        """The negotiated protocol version, e.g. ``TLSv1.3``."""
        return self._ssl.version()

    # --- the handshake

    async def do_handshake(self) -> None:
        """Run the TLS handshake, or wait for the one another task runs.

        Raises :class:`trio.BrokenResourceError` (its cause: the ``ssl``
        error or the transport's) if it failed.
        """
        if self._handshake_started:
            await self._handshake_done.wait()
        else:
            self._handshake_started = True
            try:
                await self._run_handshake()
            except BaseException as exc:
                self._handshake_error = exc
                raise
            finally:
                self._handshake_done.set()
        self._raise_if_handshake_failed()

    def _raise_if_handshake_failed(self) -> None:
        error = self._handshake_error
        if error is None:
            return
        if isinstance(error, trio.BrokenResourceError):
            raise trio.BrokenResourceError(*error.args) from error.__cause__
        raise trio.BrokenResourceError(f"TLS handshake failed: {error!r}") from error

    async def _run_handshake(self) -> None:
        while True:
            try:
                self._ssl.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as exc:
                if self._incoming.eof:
                    raise trio.BrokenResourceError(
                        "the client closed the connection during the TLS handshake"
                    ) from exc
                await self._send_alert()
                raise trio.BrokenResourceError from exc
            # Outside the except clause: a transport error's reason is its own.
            await self._send(self._outgoing.read())
            try:
                await self._read_transport()
            except UncleanEndOfStream:  # tls_strict_eof: here just an end, as without it
                self._incoming.write_eof()
        queued = self._outgoing.read()
        if self._ssl.version() == "TLSv1.3":
            self._held = queued  # the server's Finished went out before; these are tickets
        else:
            await self._send(queued)

    async def _send_alert(self) -> None:
        """After a TLS error, send the alert OpenSSL queued, if the transport still takes it."""
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            await self._send(self._outgoing.read())

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
        if not self._handshake_done.is_set():
            await self.do_handshake()
        self._raise_if_handshake_failed()
        if self._closed:
            raise trio.ClosedResourceError("the TLS stream is closed")
        # The receive's scheduling point: before decrypting, never between
        # decrypting and returning (a cancel there would lose the plaintext).
        await trio.lowlevel.checkpoint()
        if self._outgoing.pending:  # a TLS 1.3 KeyUpdate's answer, queued by the last read
            await self._send(self._outgoing.read())

    def _decrypt_into(self, view: memoryview) -> int:
        """Every complete record in the incoming BIO, up to ``len(view)`` bytes (no I/O)."""
        size = len(view)
        filled = 0
        try:
            while filled < size:
                # With a buffer, read() returns a count (typeshed says bytes);
                # 0 is the peer's close_notify.
                count = cast(int, self._ssl.read(size - filled, view[filled:]))
                if not count:
                    self._eof = True
                    break
                filled += count
        except ssl.SSLWantReadError:
            pass
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError) as exc:
            if isinstance(exc, ssl.SSLEOFError) and not self._ignores_unexpected_eof():
                if not filled:
                    raise trio.BrokenResourceError("TLS connection ended uncleanly") from exc
            else:
                self._eof = True
        except ssl.SSLError as exc:
            if not filled:
                raise trio.BrokenResourceError from exc
        return filled

    def _ignores_unexpected_eof(self) -> bool:
        return bool(self._ssl.context.options & ssl.OP_IGNORE_UNEXPECTED_EOF)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt all of *data* and send it in one piece."""
        if not self._handshake_done.is_set():
            await self.do_handshake()
        self._raise_if_handshake_failed()
        if self._closed:
            raise trio.ClosedResourceError("the TLS stream is closed")
        view = memoryview(data)
        try:
            while view:
                written = self._ssl.write(view)
                view = view[written:]
        except ssl.SSLError as exc:
            raise trio.BrokenResourceError from exc
        finally:
            view.release()
        await self._send(self._outgoing.read())

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport_stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        """Send close_notify (without waiting for the peer's) and close the transport."""
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._closed = True
        try:
            # After a cut-off send (an aborted download) no close_notify:
            # the peer must not take what it got for the whole file.
            if self._handshake_done.is_set() and self._handshake_error is None and not self._broken:
                with contextlib.suppress(ssl.SSLError):
                    self._ssl.unwrap()
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await self._send(self._outgoing.read())
        except BaseException:
            await trio.aclose_forcefully(self.transport_stream)
            raise
        await self.transport_stream.aclose()

    # --- the transport

    async def _send(self, records: bytes) -> None:
        if self._held:
            records, self._held = self._held + records, b""
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
        """Feed the next chunk of the transport to the TLS layer (its end, as EOF)."""
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

    def _feed(self, data: bytes | bytearray | memoryview) -> None:
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()
