"""FTPS (RFC 4217) as a protection policy for the control and data channels.

:class:`TLSProtection` is what ``TLS_FTPHandler`` adds to a session: it
builds the session's TLS context, puts TLS on the control connection (at
``AUTH TLS``, or first thing for implicit FTPS) and takes it off (``CCC``),
protects data connections under ``PROT P`` and decides what must wait for
TLS. It closes the holes pyftpdlib's ``TLS_FTPHandler`` leaves:

* plaintext a client pipelined after ``AUTH TLS`` is thrown away, never run
  (CVE-2011-1575; see :meth:`~.control.ControlChannel.start_tls`);
* implicit FTPS (TLS from the first byte) next to explicit ``AUTH TLS``;
* ``CCC`` returns the control connection to clear text after login;
* a protected data connection can be bound to the control session's TLS
  session (:class:`~trioftp.tls.contexts.DataSessionBinding`);
* an upload whose TLS connection breaks is a failure, never ``226``, while
  one that ends with a bare TCP FIN is a normal end of file;
* HTTP requests sent to the FTP port are dropped before login (ALPACA), and
  SNI can be checked strictly.
"""

from __future__ import annotations

import inspect
import ssl
from collections.abc import Callable, Collection, Sequence
from typing import Protocol, TypeVar

import attrs
import trio

from .._util import error_chain
from ..log import logger
from ..tls.contexts import (
    DataSessionBinding,
    TLSSettings,
    UseCertificateOf,
    build_context,
    certified_context,
    session_context,
)
from ..tls.early import BackgroundHandshake
from ..tls.eof import StrictEndOfStream
from ..tls.sni import ServerNameRouter
from ..tls.streams import (
    TLSStream,
    is_tls,
    session_id,
    session_reused,
    unwrap,
    wrap_data_server,
    wrap_server,
)
from .control import ControlChannel
from .dataconn import NoDataConnection
from .events import EventSource, SessionEvents
from .servernames import SNIPolicy, server_name_router, sni_policy
from .sites import Site, SiteTable
from .state import SessionState

__all__ = ["TLSHost", "TLSProtection"]

T = TypeVar("T")

# Shared routed contexts (binding off), keyed by what built them.
_SHARED_ROUTED: dict[tuple[TLSSettings, SNIPolicy], ssl.SSLContext] = {}
_WARNED: set[type] = set()


class TLSHost(EventSource, Protocol):
    """The session an FTPS policy protects: its TLS settings and its parts."""

    certfile: str | None
    keyfile: str | None
    ssl_protocol: object
    ssl_options: int | None
    ssl_context: object
    tls_control_required: bool
    tls_data_required: bool
    tls_implicit: bool
    tls_handshake_timeout: float
    tls_data_session_binding: DataSessionBinding | str
    tls_sni_hosts: Collection[str] | None
    tls_strict_sni: bool
    tls_strict_eof: bool
    sites: SiteTable | Sequence[Site]
    host_names: Sequence[str]
    session_state: SessionState
    control_channel: ControlChannel
    session_events: SessionEvents

    @property
    def site(self) -> Site | None: ...
    @property
    def nursery(self) -> trio.Nursery: ...
    def adopt_server_name_site(self, site: Site | None) -> bool: ...

    async def run_blocking(self, function: Callable[..., T], *args: object) -> T: ...
    def respond(self, resp: str) -> None: ...
    def log(self, msg: str) -> None: ...
    def logerror(self, msg: str) -> None: ...
    def close(self) -> None: ...
    def close_when_done(self) -> None: ...


class TLSProtection:
    """One session's FTPS: its context, the control connection's TLS, data protection."""

    __slots__ = (
        "_context",
        "_control_session_id",
        "_early",
        "_host",
        "control_protected",
        "handshake_site",
    )

    def __init__(self, host: TLSHost) -> None:
        self._host = host
        self._context: object = None
        self._control_session_id: bytes | None = None
        self._early: BackgroundHandshake | None = None
        #: True while the control connection runs over TLS.
        self.control_protected = False
        #: The site whose certificate the control connection's handshake
        #: presented (None: the handler's own); ``HOST`` may not change it.
        self.handshake_site: Site | None = None

    # --- what the settings say

    @property
    def implicit(self) -> bool:
        """Implicit FTPS: TLS from the first byte, data always protected."""
        return self._host.tls_implicit

    def configured(self) -> bool:
        """True if a certificate or a context is configured."""
        host = self._host
        return host.ssl_context is not None or host.certfile is not None

    def binding(self) -> DataSessionBinding:
        """The data-session binding policy, as an enum member."""
        return DataSessionBinding(self._host.tls_data_session_binding)

    def control_required(self) -> bool:
        """True if USER/PASS must wait for ``AUTH TLS`` (``530``)."""
        return self._host.tls_control_required and not self.control_protected

    def data_refusal(self) -> str | None:
        """The reply refusing a transfer that must be protected and is not (``522``)."""
        if self._host.tls_data_required and not self._host.session_state.protect_data:
            return "522 SSL/TLS required on the data channel (use PROT P)."
        return None

    def status(self) -> str:
        """The STAT line on the control and data protection."""
        stream = self._host.control_channel.stream
        control = f"TLS ({stream.version()})" if is_tls(stream) else "clear"
        data = "Private" if self._host.session_state.protect_data else "Clear"
        return f"Control connection: {control}; data protection: {data}"

    # --- the context

    def _context_for_session(self) -> object:
        """The context for this session's control and data connections (blocking).

        Each session gets a context of its own - and so its own session cache
        and ticket keys - unless binding is off or a single ready context was
        given. One trioftp builds holds no certificate: its handshakes present
        the shared context's (see :func:`~trioftp.tls.contexts.session_context`).
        """
        host = self._host
        given = host.ssl_context
        if inspect.ismethod(given) and given.__self__ is host:
            given = given.__func__  # a plain function set on the class came back bound
        policy = self._sni_policy()
        if callable(given):  # a factory: a fresh context for every session
            return given()
        if given is not None:
            if self.binding() is DataSessionBinding.REQUIRED:
                _warn_shared_binding(type(host))
            return given
        if host.certfile is None:
            raise ssl.SSLError("no certificate configured (certfile or ssl_context)")
        settings = TLSSettings(
            host.certfile, host.keyfile, host.ssl_protocol, host.ssl_options, host.tls_sni_hosts
        )
        if policy is not None:
            return self._routed_context(settings, policy)
        certified = certified_context(settings)
        if self.binding() is DataSessionBinding.OFF:
            return certified
        return session_context(settings, UseCertificateOf(certified, settings.sni_hosts))

    def _sni_policy(self) -> SNIPolicy | None:
        """How SNI routes handshakes to sites; None where nothing is routed.

        Routing needs contexts trioftp builds itself (``certfile``): with a
        ready ``ssl_context`` sites are selected by ``HOST`` only, and site
        certificates or strict SNI are a configuration error (ValueError).
        """
        host = self._host
        sites = SiteTable.of(host.sites)
        if not sites and not host.tls_strict_sni:
            return None
        # The default site's certificate is the handler's own, not one a HOST put in place.
        handler = type(host)
        certfile: str | None = getattr(handler, "certfile", None)
        if host.ssl_context is not None or certfile is None:
            if host.tls_strict_sni or any(site.certfile is not None for site in sites):
                raise ValueError(
                    "site certificates and tls_strict_sni need the handler's own "
                    "certfile/keyfile (not ssl_context)"
                )
            return None
        own = TLSSettings(
            certfile, getattr(handler, "keyfile", None), host.ssl_protocol, host.ssl_options
        )
        return sni_policy(
            own,
            sites,
            [*host.host_names, *(host.tls_sni_hosts or ())],
            strict=host.tls_strict_sni,
            refuse_unknown=host.tls_sni_hosts is not None,
        )

    def _routed_context(self, settings: TLSSettings, policy: SNIPolicy) -> ssl.SSLContext:
        """A context of *settings* whose handshakes SNI routes to the sites (blocking)."""
        router = server_name_router(policy)
        settings = attrs.evolve(settings, sni_hosts=None)
        if self.binding() is not DataSessionBinding.OFF:
            return session_context(settings, router.with_fallback(certified_context(settings)))
        shared = _SHARED_ROUTED.get((settings, policy))
        if shared is None:
            shared = build_context(settings)
            shared.sni_callback = router  # before another thread can find it
            _SHARED_ROUTED[settings, policy] = shared
        return shared

    async def load_context(self) -> object:
        """This session's context, or None (logged) if the settings can't make one."""
        try:
            return await self._host.run_blocking(self._context_for_session)
        except (OSError, ValueError, TypeError) as exc:  # a missing file, InsecureProtocol...
            self._host.logerror(f"TLS is not available: {exc}")
            return None

    # --- the control connection

    async def start_implicit(self) -> bool:
        """Implicit FTPS: the handshake comes before the greeting; False ends the session."""
        if not self.implicit:
            return True
        return await self.secure_control()

    async def secure_control(self, context: object = None) -> bool:
        """Put TLS on the control connection; False (logged) if the handshake failed."""
        host = self._host
        if context is None:
            context = await self.load_context()
            if context is None:
                return False
        tls = wrap_server(host.control_channel.stream, context)
        try:
            await self._handshake(tls)
        except trio.BrokenResourceError as exc:
            host.session_events.tls_handshake(host, "control", exc)
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(tls)
            host.close_when_done()
            return False
        host.session_events.tls_handshake(host, "control")
        host.control_channel.start_tls(tls)
        named, site = _named_site(context, tls)
        if named and not host.adopt_server_name_site(site):
            shown = "the handler's own names" if site is None else repr(site.name)
            host.log(f"TLS server name ({shown}) is not the site selected with HOST.")
            host.respond("421 The TLS server name does not match the HOST name.")
            host.close_when_done()
            return False
        host.session_state.new_security_context(protected_by_default=self.implicit)
        self._context = context
        self._control_session_id = session_id(tls)
        self.control_protected = True
        self.handshake_site = host.site
        return True

    async def clear_control(self) -> bool:
        """Take TLS off the control connection (CCC); False: the session must end."""
        host = self._host
        stream = host.control_channel.stream
        assert is_tls(stream)
        try:
            with trio.fail_after(host.tls_handshake_timeout):
                transport, trailing = await unwrap(stream)
        except (trio.BrokenResourceError, trio.TooSlowError) as exc:
            host.log(f"CCC failed: {exc}")
            return False
        host.control_channel.stop_tls(transport, trailing)
        self.control_protected = False
        return True

    async def _handshake(self, tls: TLSStream, early: BackgroundHandshake | None = None) -> None:
        """The TLS handshake (or the end of the *early* one), within
        ``tls_handshake_timeout``; BrokenResourceError if not."""
        try:
            with trio.fail_after(self._host.tls_handshake_timeout):
                await (tls.do_handshake() if early is None else early.wait())
        except trio.TooSlowError:
            raise trio.BrokenResourceError("TLS handshake timed out") from None

    # --- data connections

    def data_connected(self, stream: trio.abc.Stream) -> None:
        """A passive data connection was just accepted: under PROT P, start its handshake.

        The handshake runs in the background from here, so a client that
        handshakes as soon as it connects - before or while it sends the
        transfer command - is answered at once; :meth:`protect_data` (after
        the ``150``) then waits for its end, within ``tls_handshake_timeout``.
        """
        host = self._host
        if not host.session_state.protect_data or self._context is None:
            return
        if self._early is not None:
            self._early.scope.cancel()
        early = self._early = BackgroundHandshake(stream, self._wrap_data(stream))
        host.nursery.start_soon(early.run)

    async def protect_data(self, stream: trio.abc.Stream) -> trio.abc.Stream:
        """Under PROT P: TLS on a new data connection, bound to this session if required.

        Awaited after the ``150``, since clients such as ftplib start the
        handshake only then (a passive connection's handshake may have begun
        already, see :meth:`data_connected`).
        """
        host = self._host
        early, self._early = self._early, None
        if early is not None and early.transport is not stream:
            early.scope.cancel()  # a connection never used (its socket is closed)
            early = None
        if not host.session_state.protect_data:
            if early is not None:  # its handshake has read from the connection already
                early.scope.cancel()
                await trio.aclose_forcefully(early.tls)
                raise NoDataConnection(
                    "data connection was made under PROT P, used under PROT C",
                    "425 The data connection was opened under another protection level.",
                )
            return stream
        tls = early.tls if early is not None else self._wrap_data(stream)
        try:
            try:
                await self._handshake(tls, early)
            except trio.BrokenResourceError as exc:
                host.session_events.tls_handshake(host, "data", exc)
                raise
            host.session_events.tls_handshake(host, "data")
            named, site = _named_site(self._context, tls)
            if named and site is not self.handshake_site:
                raise NoDataConnection(
                    "data connection named another TLS server name than the control connection",
                    "425 The data connection's TLS server name is not the control connection's.",
                )
            binding = self.binding()
            if binding is not DataSessionBinding.OFF and not self._resumes_control_session(tls):
                if binding is DataSessionBinding.REQUIRED:
                    raise NoDataConnection(
                        "data connection did not resume the control connection's TLS session",
                        "522 Data connection must reuse the control connection's TLS session.",
                    )
                host.log("Data connection did not resume the control session's TLS session.")
        except trio.BrokenResourceError as exc:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(tls)
            raise NoDataConnection(
                f"data connection TLS handshake failed: {error_chain(exc)}",
                "425 TLS negotiation on the data connection failed.",
            ) from exc
        except BaseException:  # refused, ABOR, the session ending: never leak the socket
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(tls)
            raise
        return tls

    def _wrap_data(self, stream: trio.abc.Stream) -> TLSStream:
        """TLS (not yet negotiated) on data connection *stream*."""
        if self._host.tls_strict_eof:  # an upload must end with close_notify
            stream = StrictEndOfStream(stream)
        return wrap_data_server(stream, self._context)

    def _resumes_control_session(self, tls: TLSStream) -> bool:
        """True if *tls* resumed this control connection's own TLS session.

        Resumption alone proves the session came from this session's context.
        With TLS 1.2 a stranger could get such a session from the data port
        itself (the session is made during the handshake), so there the
        session must also be the control connection's, by its id.
        """
        if not session_reused(tls):
            return False
        data_id = session_id(tls)
        return data_id is None or data_id == self._control_session_id


def _named_site(context: object, tls: TLSStream) -> tuple[bool, Site | None]:
    """Whether a finished handshake's SNI server name selected a site, and which.

    ``(True, None)`` is the default site (a name of the handler's own);
    ``(False, None)`` a client that named none (or one let through
    unrouted), or a context that does no SNI routing.
    """
    router = getattr(context, "sni_callback", None)
    if not isinstance(router, ServerNameRouter):
        return False, None
    route = router.route_of(getattr(tls, "context", None))
    if route is None:
        return False, None
    return True, route if isinstance(route, Site) else None


def _warn_shared_binding(kind: type) -> None:
    """A single given context can't bind data connections to one session: say so (once)."""
    if kind in _WARNED:
        return
    _WARNED.add(kind)
    logger.warning(
        "%s: tls_data_session_binding=required with one shared ssl_context only "
        "checks that data connections resume *a* session of this server; give "
        "certfile/keyfile or a context factory to bind them to their own session",
        kind.__name__,
    )
