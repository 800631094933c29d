"""Choosing a handshake's certificate by the client's SNI server name (RFC 6066).

A :class:`ServerNameRouter` is installed as the ``sni_callback`` of a server
context. For each handshake it looks the client's server name up and, when a
route names it, switches the connection to that route's context - which
changes the certificate presented and nothing else: OpenSSL keeps resuming
sessions from the context the connection started on, so a session of its own
per control connection (:class:`~.contexts.DataSessionBinding`) still works.
After the handshake :meth:`ServerNameRouter.route_of` tells, from the context
the connection ended on, which route the client named.

Names are matched without regard to case or a final dot. A missing name (an
IP address, or a client that sends none) and a name no route knows may be
refused with an ``unrecognized_name`` alert.
"""

from __future__ import annotations

import copy
import ssl
from collections.abc import Mapping

__all__ = ["ServerNameRouter"]


def _key(name: str) -> str:
    lowered = name.lower()
    return lowered[:-1] if lowered.endswith(".") else lowered


class ServerNameRouter:
    """The ``sni_callback`` that routes each handshake to a context by server name."""

    __slots__ = ("_by_context", "_routes", "fallback", "refuse_missing", "refuse_unknown")

    def __init__(
        self,
        routes: Mapping[str, tuple[object, ssl.SSLContext]],
        *,
        refuse_unknown: bool = False,
        refuse_missing: bool = False,
    ) -> None:
        """Route each name of *routes* to its ``(route, context)``.

        Each route should have a context of its own, so that :meth:`route_of`
        can tell the routes apart. *refuse_unknown* refuses names not in
        *routes*; *refuse_missing* refuses handshakes without a name.
        """
        self._routes = {_key(name): target for name, target in routes.items()}
        self._by_context = {id(context): route for route, context in self._routes.values()}
        self.refuse_unknown = refuse_unknown
        self.refuse_missing = refuse_missing
        #: Where a handshake let through without a route goes (None: it
        #: keeps its context); see :meth:`with_fallback`.
        self.fallback: ssl.SSLContext | None = None

    def __call__(
        self, connection: ssl.SSLObject | ssl.SSLSocket, name: str | None, context: ssl.SSLContext
    ) -> int | None:
        """The SNI callback: switch *connection* to the named route's context, or refuse."""
        target = None if name is None else self._routes.get(_key(name))
        if target is not None:
            connection.context = target[1]
            return None
        if self.refuse_missing if name is None else self.refuse_unknown:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        if self.fallback is not None:
            connection.context = self.fallback
        return None

    def with_fallback(self, fallback: ssl.SSLContext) -> ServerNameRouter:
        """A copy of this router that moves handshakes let through without a route to
        *fallback* (for a context with no certificate of its own)."""
        router = copy.copy(self)
        router.fallback = fallback
        return router

    def route_of(self, context: object) -> object | None:
        """The route a finished handshake ended on, from its connection's context.

        None if the client named no route (no name, or an unknown one that
        was let through): the connection kept the context it started on, or
        moved to the fallback.
        """
        return self._by_context.get(id(context))

    def names(self) -> frozenset[str]:
        """The names routed."""
        return frozenset(self._routes)
