"""The PROXY protocol header, versions 1 (text) and 2 (binary), sans-IO.

A load balancer in TCP mode (HAProxy's ``send-proxy``/``send-proxy-v2``, a
cloud network load balancer) sends this header first on each connection it
opens to a backend, naming the client whose connection it relays. The
format is HAProxy's specification ("The PROXY protocol", versions 1 and 2):

* version 1: one US-ASCII line, at most 107 bytes with its CRLF:
  ``PROXY TCP4 <src> <dst> <sport> <dport>\\r\\n``, ``TCP6`` alike, or
  ``PROXY UNKNOWN[ anything]\\r\\n``;
* version 2: a 12-byte signature, a version/command byte (``LOCAL`` or
  ``PROXY``), an address family/transport byte, a 16-bit length, then the
  addresses and optional TLVs (type-length-value records, skipped here).

:func:`parse_proxy_header` reads the first bytes of a connection; it says
when it needs more, and how many bytes the header took, so a reader can
consume exactly the header and leave everything after it (an FTP command,
an implicit-FTPS handshake) untouched. Anything that does not match the
specification exactly raises :class:`ProxyHeaderError`, as the
specification requires (the connection must then be dropped).

A receiver must accept the header only from load balancers it trusts
(anyone else could claim any address): :class:`TrustedProxies` holds them.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable

import attrs

__all__ = [
    "V1_MAX_LENGTH",
    "V2_SIGNATURE",
    "ProxyHeader",
    "ProxyHeaderError",
    "ProxySource",
    "TrustedProxies",
    "parse_proxy_header",
]

#: The longest version 1 header, CRLF included.
V1_MAX_LENGTH = 107
#: The first twelve bytes of every version 2 header.
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"

_V1_PREFIX = b"PROXY "
#: The fixed part of a version 2 header: signature, version/command, family, length.
_V2_FIXED_LENGTH = 16
_V2_VERSION = 0x2
_V2_LOCAL, _V2_PROXY = 0x0, 0x1
#: Family/transport bytes the specification defines (high nibble: family;
#: low nibble: UNSPEC, STREAM, DGRAM); every other value is invalid.
_V2_TCP4, _V2_TCP6 = 0x11, 0x21
_V2_VALID_FAMILIES = frozenset({0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32})
#: Address block lengths of TCP over IPv4 and over IPv6 (addresses, then ports).
_V2_ADDRESS_LENGTH = {_V2_TCP4: 12, _V2_TCP6: 36}

_PRINTABLE = re.compile(rb"[\x20-\x7e]*")
# Decimal without leading zeros (the specification forbids them: octal confusion).
_PORT = re.compile(rb"0|[1-9][0-9]{0,4}")
_IPV4 = re.compile(rb"(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}")
_IPV6 = re.compile(rb"[0-9A-Fa-f:.]{2,45}")

Address = tuple[str, int]

#: A trusted source: ``"10.0.0.5"``, ``"10.0.0.0/24"``, ``"2001:db8::/64"``,
#: or an ``ipaddress`` address or network object.
ProxySource = (
    str | ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network
    | ipaddress.IPv6Network
)  # fmt: skip


class ProxyHeaderError(ValueError):
    """The bytes are not a well-formed PROXY header (the connection must be dropped)."""


@attrs.frozen
class ProxyHeader:
    """A complete PROXY header.

    *source* and *destination* are the relayed connection's client and
    server ``(ip, port)``. Both are None when the header tells nothing to use
    (version 1 ``UNKNOWN``, version 2 ``LOCAL`` such as a health check, or a
    family other than TCP over IPv4/IPv6): the receiver then uses the
    connection's own addresses.
    """

    version: int
    #: How many bytes the header takes at the start of the connection.
    length: int
    source: Address | None = None
    destination: Address | None = None

    @property
    def proxied(self) -> bool:
        """True if the header names the relayed client."""
        return self.source is not None


def parse_proxy_header(data: bytes | bytearray | memoryview) -> ProxyHeader | None:
    """Parse the PROXY header at the start of *data*.

    Returns the header (bytes after it are not looked at), or None if *data*
    is a proper beginning of a header and more bytes are needed: every byte
    of *data* then belongs to the header. Raises :class:`ProxyHeaderError`
    as soon as *data* cannot begin a valid header.
    """
    data = bytes(data)
    if not data:
        return None
    if data[:1] == _V1_PREFIX[:1]:
        return _parse_v1(data)
    if data[:1] == V2_SIGNATURE[:1]:
        return _parse_v2(data)
    raise ProxyHeaderError("not a PROXY header")


# --- version 1


def _parse_v1(data: bytes) -> ProxyHeader | None:
    head = data[:V1_MAX_LENGTH]
    if head[: len(_V1_PREFIX)] != _V1_PREFIX[: len(head)]:
        raise ProxyHeaderError("not a PROXY header")
    end = head.find(b"\r\n")
    line = head if end < 0 else head[:end]
    # A lone CR or LF must not end the line; a CR as the last byte may still be
    # followed by its LF.
    if b"\n" in line or b"\r" in line.removesuffix(b"\r" if end < 0 else b""):
        raise ProxyHeaderError("version 1 header with a lone CR or LF")
    if not _PRINTABLE.fullmatch(line.removesuffix(b"\r")):
        raise ProxyHeaderError("version 1 header with a byte that is not printable US-ASCII")
    if end < 0:
        if len(head) >= V1_MAX_LENGTH:
            raise ProxyHeaderError(f"version 1 header without CRLF in {V1_MAX_LENGTH} bytes")
        return None
    length = end + 2
    fields = line[len(_V1_PREFIX) :].split(b" ")
    family = fields[0]
    if family == b"UNKNOWN":  # the rest of the line is to be ignored
        return ProxyHeader(1, length)
    if family not in (b"TCP4", b"TCP6"):
        raise ProxyHeaderError(f"version 1 header with unknown protocol {family!r}")
    if len(fields) != 5:
        raise ProxyHeaderError("version 1 header without exactly two addresses and two ports")
    _, source_ip, destination_ip, source_port, destination_port = fields
    parse_ip = _v1_ipv4 if family == b"TCP4" else _v1_ipv6
    return ProxyHeader(
        1,
        length,
        (parse_ip(source_ip), _v1_port(source_port)),
        (parse_ip(destination_ip), _v1_port(destination_port)),
    )


def _v1_ipv4(text: bytes) -> str:
    if _IPV4.fullmatch(text):
        try:  # inet_pton/inet_ntop: strict, canonical, and several times faster than ipaddress
            return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, text.decode()))
        except OSError:
            pass
    raise ProxyHeaderError(f"version 1 header with invalid IPv4 address {text!r}")


def _v1_ipv6(text: bytes) -> str:
    # No scope id ("%eth0"): the character class leaves it out.
    if _IPV6.fullmatch(text):
        try:
            packed = socket.inet_pton(socket.AF_INET6, text.decode())
            return socket.inet_ntop(socket.AF_INET6, packed)
        except OSError:
            pass
    raise ProxyHeaderError(f"version 1 header with invalid IPv6 address {text!r}")


def _v1_port(text: bytes) -> int:
    if _PORT.fullmatch(text) and int(text) <= 65535:
        return int(text)
    raise ProxyHeaderError(f"version 1 header with invalid port {text!r}")


# --- version 2


def _parse_v2(data: bytes) -> ProxyHeader | None:
    signature = data[: len(V2_SIGNATURE)]
    if signature != V2_SIGNATURE[: len(signature)]:
        raise ProxyHeaderError("not a PROXY header")
    if len(data) > 12:
        version, command = data[12] >> 4, data[12] & 0x0F
        if version != _V2_VERSION:
            raise ProxyHeaderError(f"version 2 signature with version {version}")
        if command not in (_V2_LOCAL, _V2_PROXY):
            raise ProxyHeaderError(f"version 2 header with unknown command {command:#x}")
    if len(data) > 13 and data[13] not in _V2_VALID_FAMILIES:
        raise ProxyHeaderError(f"version 2 header with invalid family {data[13]:#04x}")
    if len(data) < _V2_FIXED_LENGTH:
        return None
    length = _V2_FIXED_LENGTH + int.from_bytes(data[14:16], "big")
    if len(data) < length:
        return None
    family = data[13]
    if data[12] & 0x0F == _V2_LOCAL or family not in _V2_ADDRESS_LENGTH:
        # LOCAL (a health check): the connection's own endpoints. Families
        # other than TCP fall back to the same (the specification allows it).
        return ProxyHeader(2, length)
    block = data[_V2_FIXED_LENGTH:length]
    size = _V2_ADDRESS_LENGTH[family]
    if len(block) < size:
        raise ProxyHeaderError(
            f"version 2 header with {len(block)} address bytes where {size} are needed"
        )
    half = (size - 4) // 2
    address_family = socket.AF_INET if family == _V2_TCP4 else socket.AF_INET6
    source_ip = socket.inet_ntop(address_family, block[:half])
    destination_ip = socket.inet_ntop(address_family, block[half : 2 * half])
    source_port = int.from_bytes(block[2 * half : 2 * half + 2], "big")
    destination_port = int.from_bytes(block[2 * half + 2 : size], "big")
    return ProxyHeader(2, length, (source_ip, source_port), (destination_ip, destination_port))


# --- who may send it


class TrustedProxies:
    """The sources allowed to send a PROXY header (a server's ``proxy_protocol_from``).

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
        """True if *ip* (an address's text, IPv4 not mapped into IPv6) is trusted."""
        if not self._networks or not isinstance(ip, str):
            return False
        address = ipaddress.ip_address(ip)
        return any(address in network for network in self._networks)

    def __repr__(self) -> str:
        return f"TrustedProxies({[str(network) for network in self._networks]!r})"
