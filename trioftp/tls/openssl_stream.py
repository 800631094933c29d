"""A Trio TLS stream driven by pyOpenSSL, for ``ssl_context = OpenSSL.SSL.Context(...)``.

pyftpdlib programs configure FTPS with a pyOpenSSL context. Such a context
cannot be turned into a stdlib :class:`ssl.SSLContext` (pyOpenSSL offers no
way to read its private key back), so trioftp speaks TLS through it directly:
an ``OpenSSL.SSL.Connection`` with memory BIOs, its records moved over the
transport stream by this class - the way :class:`trio.SSLStream` drives the
stdlib's ``SSLObject``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TypeVar

import trio
from OpenSSL import SSL
from OpenSSL._util import lib as _lib

__all__ = ["OpenSSLStream"]

T = TypeVar("T")

_CHUNK = 65536
_RECORD_HEADER = 5
#: The first byte of every TLS record: change_cipher_spec, alert, handshake, application_data.
TLS_RECORD_TYPES = frozenset({20, 21, 22, 23})


class OpenSSLStream(trio.abc.Stream):
    """The server side of a TLS connection over *transport*, using a pyOpenSSL *context*.

    Errors of the TLS layer or the transport surface as
    :class:`trio.BrokenResourceError`. An end of the transport without
    close_notify reads as a normal end of stream (uploads may end so).
    """

    def __init__(self, transport: trio.abc.Stream, context: SSL.Context) -> None:
        self.transport_stream = transport
        self._conn = SSL.Connection(context, None)
        self._conn.set_accept_state()
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
        try:
            return await self._drive(self._conn.recv, max_bytes or _CHUNK)
        except _EndOfStream:
            return b""

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

        pyOpenSSL has no public call for this; if its internals ever change,
        the answer is False, so a binding policy fails closed.
        """
        try:
            return bool(_lib.SSL_session_reused(self._conn._ssl))
        except AttributeError:
            return False

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
            while len(pending) < _RECORD_HEADER or len(pending) < _record_end(pending):
                data = await self.transport_stream.receive_some(_CHUNK)
                if not data:
                    raise trio.BrokenResourceError("EOF before the peer's close_notify")
                pending += data
                if pending[0] not in TLS_RECORD_TYPES:  # clear text: no close_notify coming
                    return self.transport_stream, pending
            end = _record_end(pending)
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
                raise trio.BrokenResourceError(str(exc)) from exc
            if handshake and self.version() == "TLSv1.3":
                self._delayed = self._queued()
            await self._flush()
            return result

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
            data = await self.transport_stream.receive_some(_CHUNK)
        except (trio.BrokenResourceError, OSError) as exc:
            raise trio.BrokenResourceError(str(exc)) from exc
        return bytes(data)


class _EndOfStream(Exception):
    """The peer ended the TLS stream (close_notify, or EOF of the transport)."""


def _record_end(buffer: bytes) -> int:
    """The end of the first TLS record in *buffer* (header: type, version, length)."""
    if len(buffer) < _RECORD_HEADER:
        return _RECORD_HEADER
    return _RECORD_HEADER + int.from_bytes(buffer[3:5], "big")
