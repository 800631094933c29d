"""Connections relayed by a load balancer: reading the PROXY header of trusted sources.

A server's ``proxy_protocol_from`` names its load balancers. A connection
from one of them - a control connection, or a passive data connection
relayed the same way - must begin with a PROXY header
(:mod:`trioftp.protocol.proxyheader`) naming the real client; from any
other address no header is read. This is HAProxy's own ``expect-proxy``
rule for listed sources: a client cannot claim another address, and a load
balancer that forgot to send the header is noticed at once instead of being
served under its own address. :class:`ProxyGate` is that rule, with the
time a header may take.

:func:`read_proxy_header` consumes exactly the header's bytes (peeking at
the socket first), so what follows - an FTP command, a TLS handshake -
stays in the socket for the session.
"""

from __future__ import annotations

import socket

import attrs
import trio

from ..protocol.proxyheader import (
    ProxyHeader,
    ProxyHeaderError,
    TrustedProxies,
    parse_proxy_header,
)

__all__ = ["NoProxyHeader", "ProxyGate", "ProxyHeaderTimeout", "read_proxy_header"]

# Bytes peeked at once: a whole version 1 header, and most version 2 headers.
_PEEK_SIZE = 4096


class NoProxyHeader(ProxyHeaderError):
    """The connection ended before sending any byte (a bare TCP health check)."""


class ProxyHeaderTimeout(ProxyHeaderError):
    """The header did not arrive in time."""


@attrs.frozen
class ProxyGate:
    """Which connections must begin with a PROXY header, and how long it may take."""

    trusted: TrustedProxies
    #: Seconds allowed for the whole header.
    timeout: float

    def expects_header(self, ip: str) -> bool:
        """True if a connection from *ip* (canonical text) must begin with a header."""
        return ip in self.trusted

    async def read_header(self, sock: trio.socket.SocketType) -> ProxyHeader:
        """Read the header that starts *sock* within :attr:`timeout`.

        Raises :class:`~trioftp.protocol.proxyheader.ProxyHeaderError`
        (:class:`ProxyHeaderTimeout` when it is too slow).
        """
        with trio.move_on_after(self.timeout):
            return await read_proxy_header(sock)
        raise ProxyHeaderTimeout(f"sent no PROXY header in {self.timeout:g} seconds")


async def read_proxy_header(sock: trio.socket.SocketType) -> ProxyHeader:
    """Read the PROXY header that starts the connection *sock*, and nothing after it.

    Raises :class:`~trioftp.protocol.proxyheader.ProxyHeaderError` for a
    malformed header, or if the connection ends before the header is
    complete (:class:`NoProxyHeader` if it sent nothing at all). The caller
    bounds the time.
    """
    taken = bytearray()
    while True:
        try:
            peeked = await sock.recv(_PEEK_SIZE, socket.MSG_PEEK)
        except OSError as exc:
            if not taken:
                raise NoProxyHeader(f"ended the connection without a PROXY header ({exc})") from exc
            raise ProxyHeaderError(f"connection failed inside the PROXY header ({exc})") from exc
        if not peeked:
            if not taken:
                raise NoProxyHeader("closed the connection without a PROXY header")
            raise ProxyHeaderError("connection closed before the PROXY header was complete")
        header = parse_proxy_header(taken + peeked)
        # An incomplete header: every byte peeked belongs to it, so take them
        # all (the next peek then waits for new bytes).
        wanted = len(peeked) if header is None else header.length - len(taken)
        while wanted:
            data = await sock.recv(wanted)
            if not data:  # cannot happen after a peek, but never loop on it
                raise ProxyHeaderError("connection closed inside the PROXY header")
            taken += data
            wanted -= len(data)
        if header is not None:
            return header
