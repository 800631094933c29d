"""A Trio TLS stream driven by pyOpenSSL, for ``ssl_context = OpenSSL.SSL.Context(...)``.

pyftpdlib programs configure FTPS with a pyOpenSSL context. Such a context
cannot be turned into a stdlib :class:`ssl.SSLContext` (pyOpenSSL offers no
way to read its private key back), so trioftp speaks TLS through it directly:
an ``OpenSSL.SSL.Connection`` with memory BIOs (its public ``bio_read``,
``bio_write`` and ``bio_shutdown``), its records moved over the transport
stream by this class - the way :class:`trio.SSLStream` drives the stdlib's
``SSLObject``.

pyOpenSSL is an optional dependency (``pip install trioftp[pyopenssl]``):
this module is imported only when a pyOpenSSL context is actually used.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TypeVar

import trio
from OpenSSL import SSL

from .records import RECORD_HEADER, TLS_RECORD_TYPES, record_end

__all__ = ["OpenSSLStream"]

T = TypeVar("T")

_CHUNK = 65536
#: Bytes read from the transport at once (many records, decrypted in one batch).
_TRANSPORT_CHUNK = 262144
#: OpenSSL's name for the server state that sends the Certificate message
#: (``SSL_state_string_long`` of ``TLS_ST_SW_CERT``), in TLS 1.2 and 1.3 alike.
_WRITING_CERTIFICATE = b"SSLv3/TLS write certificate"


class OpenSSLStream(trio.abc.Stream):
    """The server side of a TLS connection over *transport*, using a pyOpenSSL *context*.

    Errors of the TLS layer or the transport surface as
    :class:`trio.BrokenResourceError`; the TLS layer's alert (why a handshake
    was refused) is sent to the peer first. An end of the transport without
    close_notify reads as a normal end of stream (uploads may end so).
    """

    def __init__(self, transport: trio.abc.Stream, context: SSL.Context) -> None:
        self.transport_stream = transport
        self._conn = SSL.Connection(context, None)
        self._conn.set_accept_state()
        # Replaces, for this connection, an info callback set on the context.
        self._conn.set_info_callback(self._watch_handshake)
        self._certificate_sent = False
        self._handshaken = False
        self._send_lock = trio.Lock()
        # TLS 1.3 session tickets, held back until we send something (see _drive).
        self._delayed = b""

    # --- the Stream interface

    async def do_handshake(self) -> None:
        """Run the TLS handshake (it also runs on first use)."""
        if not self._handshaken:
            try:
                await self._drive(self._conn.do_handshake, handshake=True)
            except _EndOfStream:
                raise trio.BrokenResourceError("the peer left during the handshake") from None
            self._handshaken = True

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await self.do_handshake()
        size = max_bytes or _CHUNK
        try:
            data = await self._drive(self._conn.recv, size)
        except _EndOfStream:
            return b""
        # Every further record already read comes along: one wakeup for all.
        # What stops the batch (the end, an error) is met again by the next call.
        pieces, received = [data], len(data)
        while received < size:
            try:
                more = self._conn.recv(size - received)
            except SSL.Error:
                break
            pieces.append(more)
            received += len(more)
        return b"".join(pieces) if len(pieces) > 1 else data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.do_handshake()
        view = memoryview(data)
        try:
            while view:
                sent = await self._drive(self._conn.send, bytes(view[:_CHUNK]))
                view = view[sent:]
        except _EndOfStream:
            raise trio.BrokenResourceError("the peer closed the connection") from None

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport_stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        """Send close_notify (without waiting for the peer's) and close the transport."""
        try:
            if self._handshaken:
                with contextlib.suppress(SSL.Error):
                    self._conn.shutdown()
                await self._flush()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await self.transport_stream.aclose()

    # --- TLS specifics

    @property
    def session_reused(self) -> bool:
        """True if the client resumed an earlier TLS session.

        pyOpenSSL has no call for ``SSL_session_reused``; what its public API
        shows is the handshake's states. A full handshake sends the server's
        certificate, a resumed one does not (with the certificate-based
        cipher suites FTPS uses), so: resumed = handshake done, no certificate sent.
        """
        return self._handshaken and not self._certificate_sent

    def _watch_handshake(self, conn: SSL.Connection, where: int, ret: int) -> None:
        if where & SSL.SSL_CB_HANDSHAKE_START:
            self._certificate_sent = False
        elif where & SSL.SSL_CB_ACCEPT_LOOP and conn.get_state_string() == _WRITING_CERTIFICATE:
            self._certificate_sent = True

    def version(self) -> str:
        """The negotiated protocol version, e.g. ``TLSv1.3``."""
        return self._conn.get_protocol_version_name()

    async def unwrap(self) -> tuple[trio.abc.Stream, bytes]:
        """Exchange close_notify alerts and hand back the transport (for CCC).

        Returns the transport and any bytes that followed the peer's
        close_notify, which belong to the now unencrypted stream. A peer that
        does not answer close_notify and goes on in clear text (curl's
        passive CCC mode) gets the same: its clear text is returned.
        """
        try:
            done = self._conn.shutdown()
        except SSL.Error as exc:
            raise trio.BrokenResourceError(str(exc)) from exc
        await self._flush()
        pending = b""
        while not done:
            while len(pending) < RECORD_HEADER or len(pending) < record_end(pending):
                data = await self.transport_stream.receive_some(_CHUNK)
                if not data:
                    raise trio.BrokenResourceError("EOF before the peer's close_notify")
                pending += data
                if pending[0] not in TLS_RECORD_TYPES:  # clear text: no close_notify coming
                    return self.transport_stream, pending
            end = record_end(pending)
            self._conn.bio_write(pending[:end])
            pending = pending[end:]
            try:
                done = self._conn.shutdown()
            except SSL.WantReadError:
                pass
            except SSL.Error as exc:
                raise trio.BrokenResourceError(str(exc)) from exc
            await self._flush()
        return self.transport_stream, pending

    # --- moving records

    async def _drive(
        self, operation: Callable[..., T], *args: object, handshake: bool = False
    ) -> T:
        """Call *operation* until it completes, moving TLS records as it asks.

        What a TLS 1.3 server queues as its handshake completes is session
        tickets: they are held back until the next record we send, as
        :class:`trio.SSLStream` does. Sent at once, they would sit unread on
        an upload's data connection, and the client's close would then reset
        the connection (losing the upload's tail) instead of ending it.
        """
        while True:
            try:
                result = operation(*args)
            except SSL.WantReadError:
                await self._flush()
                data = await self._receive_transport()
                if data:
                    self._conn.bio_write(data)
                else:
                    self._conn.bio_shutdown()
                continue
            except SSL.ZeroReturnError:  # close_notify
                raise _EndOfStream() from None
            except SSL.SysCallError as exc:
                if exc.args and exc.args[0] == -1:  # the transport ended without close_notify
                    raise _EndOfStream() from None
                raise trio.BrokenResourceError(str(exc)) from exc
            except SSL.Error as exc:
                await self._send_alert()
                raise trio.BrokenResourceError(str(exc)) from exc
            if handshake and self.version() == "TLSv1.3":
                self._delayed = self._queued()
            await self._flush()
            return result

    async def _send_alert(self) -> None:
        """After a TLS error, send the alert OpenSSL queued (a refused handshake's
        reason, for the client to show), if the transport still takes it."""
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            await self._flush()

    def _queued(self) -> bytes:
        """Take everything the TLS layer has queued for the peer (without sending it)."""
        queued = b""
        while True:
            try:
                queued += self._conn.bio_read(_CHUNK)
            except SSL.WantReadError:
                return queued

    async def _flush(self) -> None:
        """Send whatever the TLS layer has queued for the peer."""
        async with self._send_lock:
            while True:
                try:
                    data = self._conn.bio_read(_CHUNK)
                except SSL.WantReadError:
                    return
                if self._delayed:
                    data, self._delayed = self._delayed + data, b""
                await self.transport_stream.send_all(data)

    async def _receive_transport(self) -> bytes:
        try:
            data = await self.transport_stream.receive_some(_TRANSPORT_CHUNK)
        except trio.BrokenResourceError:
            raise  # as it is: UncleanEndOfStream (tls_strict_eof) must reach the transfer
        except OSError as exc:
            raise trio.BrokenResourceError(str(exc)) from exc
        return bytes(data)


class _EndOfStream(Exception):
    """The peer ended the TLS stream (close_notify, or EOF of the transport)."""
