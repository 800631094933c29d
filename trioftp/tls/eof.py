"""Strict end of file on TLS data connections (``tls_strict_eof``).

A TLS upload should end with the client's ``close_notify`` alert: a bare TCP
FIN can also be an attacker (or a broken middlebox) cutting the stream short,
and TLS can only tell the two apart by that alert. By default trioftp, like
vsftpd with ``strict_ssl_read_eof=NO``, takes a bare FIN as the end of the
file, because some clients close that way. With ``tls_strict_eof`` the data
connection's transport is wrapped in :class:`StrictEndOfStream`.

How the end is told apart: the TLS stream reads its transport only when the
TLS layer needs more bytes. After a ``close_notify`` it needs none - the
stream ends at the alert, and the transport's own end is never read. Only a
stream that ends without the alert reads the transport's end of stream, and
there the wrapper raises :class:`UncleanEndOfStream`. This works the same
for the stdlib's and pyOpenSSL's TLS, and whatever options the context has
(``OP_IGNORE_UNEXPECTED_EOF`` makes OpenSSL itself report both ends alike).
"""

from __future__ import annotations

import trio

__all__ = ["StrictEndOfStream", "UncleanEndOfStream"]


class UncleanEndOfStream(trio.BrokenResourceError):
    """The data connection ended without the peer's TLS close_notify."""

    def __init__(self) -> None:
        super().__init__("Data connection closed without TLS close_notify")


class StrictEndOfStream(trio.abc.Stream):
    """The transport under a TLS stream, for which its end of stream is an error."""

    def __init__(self, transport: trio.abc.Stream) -> None:
        #: The stream underneath (the TCP connection).
        self.transport_stream = transport

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self.transport_stream.receive_some(max_bytes)
        if not data:
            raise UncleanEndOfStream()
        return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.transport_stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport_stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.transport_stream.aclose()
