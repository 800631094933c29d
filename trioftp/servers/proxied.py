"""Connections relayed by a load balancer: the PROXY header, read only from trusted sources.

The server's ``proxy_protocol_from`` names the load balancers (addresses or
networks). A connection from one of them must begin with a PROXY header
(:mod:`trioftp.protocol.proxyheader`), which names the real client; from
any other address no header is read and the connection is served as it
is. This is HAProxy's own ``expect-proxy`` rule for listed sources: a client
cannot claim another address, and a load balancer that forgot to send the
header is noticed at once instead of being served under its own address.

:func:`read_proxy_header` consumes exactly the header's bytes (peeking at
the socket first), so what follows - an FTP command, the TLS handshake of
implicit FTPS - stays in the socket for the session.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

import trio

from ..protocol.proxyheader import ProxyHeader, ProxyHeaderError, parse_proxy_header

__all__ = ["NoProxyHeader", "ProxySource", "TrustedProxies", "read_proxy_header"]

#: An entry of ``proxy_protocol_from``: ``"10.0.0.5"``, ``"10.0.0.0/24"``,
#: ``"2001:db8::/64"``, or an ``ipaddress`` address or network object.
ProxySource = (
    str | ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network
    | ipaddress.IPv6Network
)  # fmt: skip

# Bytes peeked at once: a whole version 1 header, and most version 2 headers.
_PEEK_SIZE = 4096


class NoProxyHeader(ProxyHeaderError):
    """The connection ended before sending any byte (a bare TCP health check)."""


class TrustedProxies:
    """The sources allowed to send a PROXY header, parsed from ``proxy_protocol_from``.

    Raises :class:`ValueError` for an entry that is not an address or a
    network (a network with host bits set, ``10.0.0.1/8``, is refused as the
    likely typo it is).
    """

    __slots__ = ("_networks",)

    def __init__(self, sources: Iterable[ProxySource]) -> None:
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for source in sources:
            try:
                networks.append(ipaddress.ip_network(source))
            except ValueError as exc:
                raise ValueError(f"proxy_protocol_from: {exc}") from None
        self._networks = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def __contains__(self, ip: object) -> bool:
        """True if *ip* (a canonical address text) is one of the trusted sources."""
        if not self._networks or not isinstance(ip, str):
            return False
        address = ipaddress.ip_address(ip)
        return any(address in network for network in self._networks)

    def __repr__(self) -> str:
        return f"TrustedProxies({[str(network) for network in self._networks]!r})"


async def read_proxy_header(sock: trio.socket.SocketType) -> ProxyHeader:
    """Read the PROXY header that starts the connection *sock*, and nothing after it.

    Raises :class:`~trioftp.protocol.proxyheader.ProxyHeaderError` for a
    malformed header, or if the peer closes the connection before the header
    is complete (:class:`NoProxyHeader` if it sent nothing at all). The
    caller bounds the time.
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
