"""Virtual hosts (RFC 7151): :class:`Site`, :class:`SiteTable` and host-name syntax.

A site is what ``HOST name`` (or a TLS client's SNI server name) selects: its
own authorizer (so its users, home directories and login messages), and
optionally its own filesystem class, banner, TLS certificate and a few other
handler settings. A session that names no site uses the handler's own
settings: the *default site*. Configure them on the handler::

    handler.sites = SiteTable([
        Site(["ftp.a.example", "a.example"], authorizer_a, banner="Site A."),
        Site(["ftp.b.example"], authorizer_b, certfile="b.pem", keyfile="b.key"),
    ])

This module only describes sites and finds them by name; the session applies
the selected one (:meth:`trioftp.session.core.Session.select_site`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from ..authorizers import Authorizer
from ..filesystems import AbstractedFS

__all__ = [
    "OVERRIDABLE_SETTINGS",
    "HostArgument",
    "Site",
    "SiteTable",
    "normalize_host_name",
    "parse_host_argument",
]

#: Handler settings a site may give other values in :attr:`Site.settings`:
#: those read when a command needs them (never only once per connection).
OVERRIDABLE_SETTINGS = frozenset(
    {
        "auth_failed_timeout",
        "data_connect_timeout",
        "listing_chunk_size",
        "masquerade_address",
        "max_login_attempts",
        "passive_ports",
        "permit_foreign_addresses",
        "permit_privileged_ports",
        "tls_control_required",
        "tls_data_required",
        "use_gmt_times",
        "use_sendfile",
    }
)

# RFC 7151 section 3.1: domain = sub-domain *("." sub-domain), a sub-domain is
# letters, digits and inner hyphens; RFC 1034 limits a label to 63 octets.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_MAX_NAME = 253


def normalize_host_name(name: str) -> str:
    """*name* as sites are looked up: lower case, without a final dot.

    Raises ValueError if it is not a domain name of RFC 7151's grammar.
    """
    lowered = name.lower()
    if lowered.endswith("."):
        lowered = lowered[:-1]
    if not lowered or len(lowered) > _MAX_NAME or not lowered.isascii():
        raise ValueError(f"invalid host name {name!r}")
    if not all(_LABEL.match(label) for label in lowered.split(".")):
        raise ValueError(f"invalid host name {name!r}")
    return lowered


@attrs.frozen
class HostArgument:
    """A syntactically valid ``HOST`` argument: a domain name or an address literal."""

    #: The name, normalized (:func:`normalize_host_name`), or the address as
    #: :mod:`ipaddress` writes it.
    value: str
    #: True for an IPv4 or IPv6 address literal.
    is_address: bool


def parse_host_argument(argument: str) -> HostArgument:
    """Parse the argument of ``HOST`` (RFC 7151 section 3.1); ValueError if malformed.

    IPv6 literals come in square brackets; a bare IPv6 address, or an IPv4
    one in brackets, is accepted too, since neither can be mistaken for
    anything else. A port number, which RFC 7151 forbids, is a syntax error.
    """
    text = argument.strip()
    if text.startswith("["):
        if not text.endswith("]"):
            raise ValueError(f"invalid address literal {argument!r}")
        return HostArgument(str(ipaddress.ip_address(text[1:-1])), True)  # ValueError if none
    try:
        return HostArgument(str(ipaddress.ip_address(text)), True)
    except ValueError:
        pass
    return HostArgument(normalize_host_name(text), False)


def _names(value: str | Iterable[str]) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else tuple(value)
    if not names:
        raise ValueError("a site needs at least one host name")
    return tuple(normalize_host_name(name) for name in names)


def _check_settings(
    instance: Site, attribute: attrs.Attribute[Any], value: Mapping[str, object]
) -> None:
    unknown = sorted(set(value) - OVERRIDABLE_SETTINGS)
    if unknown:
        raise ValueError(
            f"site {instance.name!r}: {', '.join(unknown)} can't be set per site "
            f"(per-site settings: {', '.join(sorted(OVERRIDABLE_SETTINGS))})"
        )


@attrs.frozen(eq=False)  # compared by identity: two sites are never the same site
class Site:
    """One virtual host: its names and the settings it gives a session.

    *names* (the first is the site's name in logs) are matched without regard
    to case or a final dot. Every setting left as None is the handler's own.
    """

    #: The host names ``HOST`` and SNI may use for this site.
    names: tuple[str, ...] = attrs.field(converter=_names)
    #: The site's users, their passwords, home directories, permissions and messages.
    authorizer: Authorizer
    #: The filesystem class of the site's sessions (None: the handler's).
    abstracted_fs: type[AbstractedFS] | None = None
    #: The ``220`` text answering ``HOST`` (and greeting an implicit FTPS
    #: client that named the site by SNI); None: the handler's banner.
    banner: str | None = None
    #: The site's certificate chain (PEM), presented to clients that name it
    #: by SNI or send ``HOST`` before ``AUTH TLS``; None: the handler's.
    certfile: str | None = None
    #: The private key of *certfile* (PEM), if it is not in *certfile*.
    keyfile: str | None = None
    #: Other handler settings, by attribute name (see :data:`OVERRIDABLE_SETTINGS`).
    settings: Mapping[str, object] = attrs.field(factory=dict, validator=_check_settings)

    def __attrs_post_init__(self) -> None:
        if self.keyfile is not None and self.certfile is None:
            raise ValueError(f"site {self.name!r}: a keyfile needs a certfile")

    @property
    def name(self) -> str:
        """The site's first name."""
        return self.names[0]

    def handler_settings(self) -> dict[str, object]:
        """The handler attributes this site gives a session (only those it sets)."""
        chosen: dict[str, object] = {"authorizer": self.authorizer}
        if self.abstracted_fs is not None:
            chosen["abstracted_fs"] = self.abstracted_fs
        if self.banner is not None:
            chosen["banner"] = self.banner
        if self.certfile is not None:
            chosen["certfile"] = self.certfile
            chosen["keyfile"] = self.keyfile
        chosen.update(self.settings)
        return chosen


class SiteTable:
    """The sites of a handler, found by name (``handler.sites``)."""

    __slots__ = ("_by_name", "_sites")

    def __init__(self, sites: Iterable[Site] = ()) -> None:
        """Index *sites* by their names; ValueError if two share a name."""
        self._sites = tuple(sites)
        self._by_name: dict[str, Site] = {}
        for site in self._sites:
            for name in site.names:
                other = self._by_name.setdefault(name, site)
                if other is not site:
                    raise ValueError(f"host name {name!r} names two sites")

    @classmethod
    def of(cls, sites: SiteTable | Iterable[Site]) -> SiteTable:
        """*sites* as a table (a plain list of sites is accepted as the setting)."""
        return sites if isinstance(sites, SiteTable) else cls(sites)

    def find(self, name: str) -> Site | None:
        """The site *name* names (any case, a final dot allowed), or None."""
        key = name.lower()
        if key.endswith("."):
            key = key[:-1]
        return self._by_name.get(key)

    def names(self) -> frozenset[str]:
        """Every host name of every site."""
        return frozenset(self._by_name)

    def __iter__(self) -> Iterator[Site]:
        return iter(self._sites)

    def __len__(self) -> int:
        return len(self._sites)

    def __bool__(self) -> bool:
        return bool(self._sites)
