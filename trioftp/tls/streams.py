"""Putting TLS on a stream and taking it off, for stdlib and pyOpenSSL contexts alike.

With a stdlib context the control connection runs over
:class:`.controlstream.ControlTLSStream` (as few scheduler passes per step as
a plain connection), data connections over :class:`.datastream.DataTLSStream`,
which moves whole batches of records per wakeup (:func:`wrap_data_server`);
both are :class:`.biostream.MemoryBIOStream`.

pyOpenSSL is optional: :mod:`.openssl_stream` (which imports it) is loaded
only when a context that is not a stdlib :class:`ssl.SSLContext` is used.
"""

from __future__ import annotations

import ssl
import sys
from typing import TYPE_CHECKING, TypeAlias, TypeGuard

import trio

from .biostream import MemoryBIOStream
from .controlstream import ControlTLSStream
from .datastream import DataTLSStream

if TYPE_CHECKING:
    from .openssl_stream import OpenSSLStream

__all__ = ["TLSStream", "is_tls", "session_reused", "unwrap", "wrap_data_server", "wrap_server"]

TLSStream: TypeAlias = "ControlTLSStream | DataTLSStream | OpenSSLStream"
_OPENSSL_STREAM = f"{__package__}.openssl_stream"


def wrap_server(transport: trio.abc.Stream, context: object) -> TLSStream:
    """The server side of TLS over *transport* (no I/O until the handshake).

    *context* is a stdlib :class:`ssl.SSLContext` or a pyOpenSSL
    ``SSL.Context`` (which needs ``trioftp[pyopenssl]``).
    """
    if isinstance(context, ssl.SSLContext):
        return ControlTLSStream(transport, context)
    return _openssl_stream(transport, context)


def wrap_data_server(transport: trio.abc.Stream, context: object) -> TLSStream:
    """The server side of TLS over a data connection (no I/O until the handshake).

    With a stdlib context: a :class:`DataTLSStream` (batches of records per
    wakeup); with a pyOpenSSL context, as :func:`wrap_server`.
    """
    if isinstance(context, ssl.SSLContext):
        return DataTLSStream(transport, context)
    return _openssl_stream(transport, context)


def _openssl_stream(transport: trio.abc.Stream, context: object) -> OpenSSLStream:
    try:
        from .openssl_stream import OpenSSLStream  # noqa: PLC0415 (pyOpenSSL: only when used)
    except ImportError as exc:
        raise TypeError(
            f"ssl_context {context!r} is not an ssl.SSLContext, and pyOpenSSL is not "
            "installed (pip install trioftp[pyopenssl])"
        ) from exc
    return OpenSSLStream(transport, context)  # type: ignore[arg-type]


def _is_openssl_stream(stream: trio.abc.Stream) -> TypeGuard[OpenSSLStream]:
    # Without its module loaded, no OpenSSLStream exists.
    module = sys.modules.get(_OPENSSL_STREAM)
    return module is not None and isinstance(stream, module.OpenSSLStream)


def session_reused(stream: TLSStream) -> bool:
    """True if the client resumed a TLS session issued by the same context."""
    return bool(stream.session_reused)


def session_id(stream: TLSStream) -> bytes | None:
    """The TLS 1.2 session id of *stream*, or None (TLS 1.3, pyOpenSSL, no session).

    Under TLS 1.2 without tickets a resumed session keeps its id, so equal
    ids mean the same session; TLS 1.3 gives every resumption a new id.
    """
    if not isinstance(stream, MemoryBIOStream) or stream.version() != "TLSv1.2":
        return None
    session = stream.session
    return bytes(session.id) if session is not None and session.id else None


def is_tls(stream: trio.abc.Stream) -> TypeGuard[TLSStream]:
    """True if *stream* is a TLS stream."""
    return isinstance(stream, MemoryBIOStream) or _is_openssl_stream(stream)


async def unwrap(stream: TLSStream) -> tuple[trio.abc.Stream, bytes]:
    """Take TLS off *stream* (CCC): the transport and the bytes read past TLS.

    The peer may answer our close_notify with its own, or - like curl's
    default (passive) CCC mode - not at all, going on in clear text: then the
    clear text read is handed back as the trailing bytes.
    """
    if _is_openssl_stream(stream):
        transport, trailing = await stream.unwrap()
        return transport, bytes(trailing)
    if not isinstance(stream, ControlTLSStream):
        raise TypeError("only a control connection's TLS can be taken off")
    return await stream.unwrap()
