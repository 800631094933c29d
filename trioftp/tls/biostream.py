"""The server side of TLS driven over memory BIOs: what the data and control streams share.

:class:`MemoryBIOStream` runs a stdlib :class:`ssl.SSLObject` over two
:class:`ssl.MemoryBIO` and leaves the transport I/O to its subclasses
(:class:`~.datastream.DataTLSStream`, :class:`~.controlstream.ControlTLSStream`):
they read the transport in whole chunks and write each flight of records at
once, where :class:`trio.SSLStream` takes a scheduler pass per step.

What it gives both:

* the handshake, which a second task may await while a first runs it (the
  early data handshake of :mod:`trioftp.session.tls`), sending the alert
  OpenSSL prepared when it fails;
* TLS 1.3 session tickets held back until the first record we send, as
  :class:`trio.SSLStream` does (sent at once, they would sit unread on an
  upload's connection and the client's close would reset it, losing the
  upload's tail; on the control connection they go out with the first reply);
* decryption of every complete record in hand with no I/O, so that no await
  need come between decrypting and returning (a cancelled receive loses no
  data);
* an end of the transport without close_notify that reads as the end of the
  stream when the context says so (``OP_IGNORE_UNEXPECTED_EOF``, trioftp's
  default); otherwise, and for a reset, :class:`trio.BrokenResourceError`;
* ``aclose``: close_notify (without waiting for the peer's), unless a send
  was cut off - then the transport is closed at once, without it.
"""

from __future__ import annotations

import abc
import contextlib
import ssl
from typing import cast

import trio

from .eof import UncleanEndOfStream

__all__ = ["MemoryBIOStream"]


class MemoryBIOStream(trio.abc.Stream):
    """TLS (server side, stdlib *context*) over *transport*; subclasses do the I/O."""

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

    # --- the transport: the subclass's

    @abc.abstractmethod
    async def _send(self, records: bytes) -> None:
        """Write *records* (after the held tickets) to the transport, all of them."""

    @abc.abstractmethod
    async def _read_transport(self) -> None:
        """Feed the next chunk of the transport to the TLS layer (its end, as EOF)."""

    def _take_outgoing(self) -> bytes:
        """The records OpenSSL queued, after the held tickets (which go with them)."""
        records = self._outgoing.read()
        if self._held and records:
            records, self._held = self._held + records, b""
        return records

    def _feed(self, data: bytes | bytearray | memoryview) -> None:
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()

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
            # The whole flight in one write.
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

    async def _ready(self) -> None:
        """Before a send or a receive: the handshake done, the stream open."""
        if not self._handshake_done.is_set():
            await self.do_handshake()
        self._raise_if_handshake_failed()
        if self._closed:
            raise trio.ClosedResourceError("the TLS stream is closed")

    # --- records in and out (no I/O)

    def _decrypt_into(self, view: memoryview) -> int:
        """Every complete record in the incoming BIO, up to ``len(view)`` bytes (no I/O).

        Stopping short only at a record's end or a full *view*, it leaves
        the incoming BIO empty or at the start of a record.
        """
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

    def _encrypt(self, data: bytes | bytearray | memoryview) -> bytes:
        """All of *data* as records, after the held tickets (no I/O)."""
        view = memoryview(data)
        try:
            while view:
                written = self._ssl.write(view)
                view = view[written:]
        except ssl.SSLError as exc:
            raise trio.BrokenResourceError from exc
        finally:
            view.release()
        return self._take_outgoing()

    # --- closing

    def _close_notify(self) -> bytes:
        """Our close_notify (after the held tickets), or b"" where none may go (no I/O)."""
        # After a cut-off send (an aborted download) no close_notify: the
        # peer must not take what it got for the whole of it.
        if not self._handshake_done.is_set() or self._handshake_error is not None or self._broken:
            return b""
        with contextlib.suppress(ssl.SSLError):
            self._ssl.unwrap()
        return self._take_outgoing()

    async def aclose(self) -> None:
        """Send close_notify (without waiting for the peer's) and close the transport."""
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._closed = True
        try:
            records = self._close_notify()
            if records:
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await self._send(records)
        except BaseException:
            await trio.aclose_forcefully(self.transport_stream)
            raise
        await self.transport_stream.aclose()
