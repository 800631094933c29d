"""The SNI routes of a handler: each site's certificate, by the site's host names.

:func:`server_name_router` builds (once per configuration, then from a cache)
the :class:`~trioftp.tls.sni.ServerNameRouter` that FTPS contexts of a
handler get: every name of every site routes to a context with that site's
certificate (the handler's own certificate for a site that has none), and
the handler's own names (``host_names``, ``tls_sni_hosts``) route to the
default site, :data:`DEFAULT_SITE`.
"""

from __future__ import annotations

import ssl
from collections.abc import Collection

import attrs

from ..tls.contexts import TLSSettings, build_context
from ..tls.sni import ServerNameRouter
from .sites import Site, SiteTable

__all__ = ["DEFAULT_SITE", "SNIPolicy", "server_name_router", "sni_policy"]

#: The route of the handler's own names: the session keeps the handler's settings.
DEFAULT_SITE = "default site"


@attrs.frozen
class SNIPolicy:
    """What a handler's SNI routing depends on, as one comparable value."""

    #: The handler's own TLS settings (its certificate is the default site's).
    tls: TLSSettings
    sites: tuple[Site, ...]
    #: The names of the default site.
    default_names: frozenset[str]
    #: Refuse handshakes that name no site, or none at all (``tls_strict_sni``).
    strict: bool
    #: Refuse names no route knows (``tls_sni_hosts`` set, or *strict*).
    refuse_unknown: bool


_ROUTERS: dict[SNIPolicy, ServerNameRouter] = {}


def server_name_router(policy: SNIPolicy) -> ServerNameRouter:
    """The router for *policy* (reads the certificate files the first time: blocking)."""
    router = _ROUTERS.get(policy)
    if router is None:
        router = _ROUTERS[policy] = _build(policy)
    return router


def _build(policy: SNIPolicy) -> ServerNameRouter:
    routes: dict[str, tuple[object, ssl.SSLContext]] = {}
    if policy.default_names:
        default_context = build_context(policy.tls)
        routes.update((name, (DEFAULT_SITE, default_context)) for name in policy.default_names)
    for site in policy.sites:
        # Each site gets a context of its own, even one with the handler's
        # certificate: the context a handshake ends on tells its site.
        tls = policy.tls
        if site.certfile is not None:
            tls = attrs.evolve(tls, certfile=site.certfile, keyfile=site.keyfile)
        context = build_context(tls)
        routes.update((name, (site, context)) for name in site.names)
    return ServerNameRouter(
        routes, refuse_unknown=policy.refuse_unknown, refuse_missing=policy.strict
    )


def sni_policy(
    tls: TLSSettings,
    sites: SiteTable,
    default_names: Collection[str],
    *,
    strict: bool,
    refuse_unknown: bool,
) -> SNIPolicy:
    """The policy of a handler's settings (names normalized as SNI matches them)."""
    names = frozenset(name.lower().rstrip(".") for name in default_names) - sites.names()
    return SNIPolicy(
        attrs.evolve(tls, sni_hosts=None), tuple(sites), names, strict, refuse_unknown or strict
    )
