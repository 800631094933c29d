"""Data-connection address codecs: PORT, PASV (RFC 959), EPRT, EPSV (RFC 2428)."""

from __future__ import annotations

import enum
import functools
import ipaddress
import re

import attrs

__all__ = [
    "AddressError",
    "EpsvAll",
    "UnsupportedProtocol",
    "format_epsv",
    "format_pasv",
    "normalize_ip",
    "parse_eprt",
    "parse_epsv",
    "parse_port",
]

#: RFC 2428 network protocol numbers.
PROTOCOL_IPV4 = 1
PROTOCOL_IPV6 = 2

_BYTE = re.compile(r" *[0-9]{1,3} *")
_NUMBER = re.compile(r"[0-9]{1,5}")


class AddressError(ValueError):
    """A malformed PORT/EPRT/EPSV argument (answered with ``501``)."""


@attrs.frozen
class UnsupportedProtocol:
    """An EPRT/EPSV network protocol number other than 1 or 2 (``522``)."""

    protocol: str


class EpsvAll(enum.Enum):
    """``EPSV ALL``: from now on only EPSV may set up data connections."""

    ALL = "ALL"


@functools.lru_cache(maxsize=1024)  # every data connection checks its peer's address
def normalize_ip(ip: str) -> str:
    """Return *ip* in canonical form, with IPv4-mapped IPv6 addresses as IPv4.

    ``::ffff:127.0.0.1`` and ``127.0.0.1`` compare equal after this; a scope
    id (``fe80::1%eth0``) is dropped.
    """
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)


def parse_port(arg: str) -> tuple[str, int]:
    """Parse PORT's ``h1,h2,h3,h4,p1,p2`` into ``(ip, port)``."""
    fields = arg.split(",")
    if len(fields) != 6:
        raise AddressError("expected h1,h2,h3,h4,p1,p2")
    if not all(_BYTE.fullmatch(field) for field in fields):
        raise AddressError("fields must be decimal numbers")
    numbers = [int(field) for field in fields]
    if any(not 0 <= n <= 255 for n in numbers):
        raise AddressError("each field must be 0-255")
    port = numbers[4] * 256 + numbers[5]
    if port == 0:
        raise AddressError("port 0 is not a valid port")
    return ".".join(map(str, numbers[:4])), port


def format_pasv(ip: str, port: int) -> str:
    """Return the ``227`` reply text announcing an IPv4 passive endpoint."""
    h = ip.split(".")
    return f"227 Entering Passive Mode ({h[0]},{h[1]},{h[2]},{h[3]},{port >> 8},{port & 0xFF})."


def parse_eprt(
    arg: str, protocols: tuple[str, ...] = ("1", "2")
) -> tuple[int, str, int] | UnsupportedProtocol:
    """Parse EPRT's ``<d>proto<d>address<d>port<d>``.

    Returns ``(protocol, ip, port)`` with the address checked against the
    protocol, or :class:`UnsupportedProtocol` for a protocol not in
    *protocols* (checked first: the server answers ``522`` for it whatever
    the address).
    """
    if len(arg) < 2 or not 33 <= ord(arg[0]) <= 126:
        raise AddressError("bad delimiter")
    fields = arg.split(arg[0])
    if len(fields) != 5 or fields[0] or fields[4]:
        raise AddressError("expected <d>proto<d>address<d>port<d>")
    proto, host, port_text = fields[1:4]
    if proto not in protocols or proto not in ("1", "2"):
        if _NUMBER.fullmatch(proto):
            return UnsupportedProtocol(proto)
        raise AddressError("bad network protocol")
    if not _NUMBER.fullmatch(port_text) or not 0 < int(port_text) <= 65535:
        raise AddressError("bad port")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise AddressError("bad network address") from None
    if address.version != (4 if proto == "1" else 6):
        raise AddressError("address does not match the network protocol")
    return int(proto), _text(address), int(port_text)


def _text(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """*address* as text, the same on every Python version.

    An IPv4-mapped IPv6 address is written ``::ffff:1.2.3.4`` (RFC 4291
    2.5.5.2); Python before 3.13 would write ``::ffff:102:304``.
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


def format_epsv(port: int) -> str:
    """Return the ``229`` reply text announcing an extended passive port."""
    return f"229 Entering extended passive mode (|||{port}|)."


def parse_epsv(arg: str) -> int | EpsvAll | UnsupportedProtocol | None:
    """Parse EPSV's optional argument: None, 1, 2, ``ALL`` or another protocol."""
    arg = arg.strip()
    if not arg:
        return None
    if arg.upper() == "ALL":
        return EpsvAll.ALL
    if arg in ("1", "2"):
        return int(arg)
    if _NUMBER.fullmatch(arg):
        return UnsupportedProtocol(arg)
    raise AddressError("expected 1, 2 or ALL")
