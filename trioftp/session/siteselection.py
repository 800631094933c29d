"""Which virtual host a session serves (RFC 7151 ``HOST``, TLS SNI): a mixin of the session.

The sites themselves (names, authorizer, banner, certificate) are
configuration, in :mod:`.sites`; this is the session's side: applying the
chosen site's settings, and the rules of HOST against the TLS server name.
"""

from __future__ import annotations

from .sites import Site
from .state import SessionState
from .tls import TLSProtection

__all__ = ["SiteSelection"]


class SiteSelection:
    """The site a session uses, chosen by ``HOST`` or by SNI."""

    session_state: SessionState
    tls_protection: TLSProtection | None

    #: The site in use (None: the handler's own settings, the default site).
    site: Site | None = None
    #: The names of the attributes the site in use set on this session.
    _site_settings: tuple[str, ...] = ()

    def select_site(self, site: Site | None) -> None:
        """Use *site*'s settings from now on (None: the handler's own).

        The site's settings become attributes of this session, over the
        handler's class attributes, so everything that reads a setting
        (``self.authorizer``, ``self.banner``...) reads the site's.
        """
        for name in self._site_settings:
            delattr(self, name)
        chosen = site.handler_settings() if site is not None else {}
        for name, value in chosen.items():
            setattr(self, name, value)
        self._site_settings = tuple(chosen)
        self.site = site

    def adopt_server_name_site(self, site: Site | None) -> bool:
        """A TLS handshake named *site* by SNI: select it; False if it can't be.

        Before ``USER`` and ``HOST`` the server name selects the site; after
        them it must name the site already selected (RFC 7151 section 3.2.2).
        """
        if site is self.site:
            return True
        state = self.session_state
        if state.username or state.authenticated or state.requested_host is not None:
            return False
        self.select_site(site)
        return True

    def forget_site(self) -> None:
        """Back to the site of the connection (REIN): the TLS server name's, or the default."""
        self.session_state.requested_host = None
        tls = self.tls_protection
        self.select_site(tls.handshake_site if tls is not None and tls.control_protected else None)
