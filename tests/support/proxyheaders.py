"""PROXY protocol headers as a load balancer writes them (HAProxy's specification)."""

from __future__ import annotations

import ipaddress
import struct

from trioftp.protocol.proxyheader import V2_SIGNATURE

Address = tuple[str, int]


def v1(source: Address, destination: Address) -> bytes:
    """A version 1 line (``TCP4`` or ``TCP6`` from the source's family)."""
    family = "TCP6" if ":" in source[0] else "TCP4"
    return f"PROXY {family} {source[0]} {destination[0]} {source[1]} {destination[1]}\r\n".encode()


def v2(
    command: int = 0x1, family: int = 0x11, body: bytes = b"", *, length: int | None = None
) -> bytes:
    """A version 2 header: signature, version 2 and *command*, *family*, length, *body*."""
    size = len(body) if length is None else length
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", size) + body


def v2_tcp(source: Address, destination: Address, tlvs: bytes = b"") -> bytes:
    """A version 2 PROXY header for TCP over IPv4 or IPv6 (from the source's family)."""
    make = ipaddress.IPv6Address if ":" in source[0] else ipaddress.IPv4Address
    body = (
        make(source[0]).packed
        + make(destination[0]).packed
        + struct.pack("!HH", source[1], destination[1])
    )
    return v2(0x1, 0x21 if make is ipaddress.IPv6Address else 0x11, body + tlvs)


#: A version 2 LOCAL header (a health check): the connection's own addresses count.
V2_LOCAL = v2(0x0, 0x00)
