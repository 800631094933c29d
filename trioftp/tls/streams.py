"""Putting TLS on a stream and taking it off, for stdlib and pyOpenSSL contexts alike."""

from __future__ import annotations

import ssl
from typing import TypeGuard

import trio

from .openssl_stream import OpenSSLStream

__all__ = ["TLSStream", "is_tls", "session_reused", "unwrap", "wrap_server"]

TLSStream = trio.SSLStream[trio.abc.Stream] | OpenSSLStream


def wrap_server(transport: trio.abc.Stream, context: object) -> TLSStream:
    """The server side of TLS over *transport* (no I/O until the handshake)."""
    if isinstance(context, ssl.SSLContext):
        return trio.SSLStream(transport, context, server_side=True, https_compatible=False)
    return OpenSSLStream(transport, context)  # type: ignore[arg-type]


def session_reused(stream: TLSStream) -> bool:
    """True if the client resumed a TLS session issued by the same context."""
    return bool(stream.session_reused)


def is_tls(stream: trio.abc.Stream) -> TypeGuard[TLSStream]:
    """True if *stream* is a TLS stream."""
    return isinstance(stream, (trio.SSLStream, OpenSSLStream))


async def unwrap(stream: TLSStream) -> tuple[trio.abc.Stream, bytes]:
    """Take TLS off *stream* (CCC): the transport and the bytes read past TLS."""
    transport, trailing = await stream.unwrap()
    return transport, bytes(trailing)
