"""TLS contexts for FTPS: built from pyftpdlib-style settings, with safe defaults.

``TLS_FTPHandler`` is configured as in pyftpdlib: ``certfile``, ``keyfile``,
``ssl_protocol``, ``ssl_options`` - with pyOpenSSL's constants or the stdlib's
- or a ready ``ssl_context``. From the file settings trioftp builds stdlib
:class:`ssl.SSLContext` objects itself, which lets it give every control
session a context of its own: TLS sessions (and TLS 1.3 tickets) are only
resumable on the context that issued them, so a data connection that resumes
proves it belongs to this control session (see :class:`DataSessionBinding`).

Such a session context holds no certificate (:func:`session_context`): the
certificate and its key are loaded once, into a shared context
(:func:`certified_context`, loaded again when the files change), and every
handshake moves over to it from its SNI callback - which changes the
certificate presented and nothing else, since OpenSSL keeps looking sessions
up in the context the connection started on. A login so costs a bare
context, not a re-parsed key.
"""

from __future__ import annotations

import enum
import os
import ssl
from collections.abc import Callable, Collection
from typing import TypeAlias

import attrs

from ..log import logger

__all__ = [
    "DEFAULT_SSL_OPTIONS",
    "PYOPENSSL_TLS_SERVER_METHOD",
    "ContextFactory",
    "DataSessionBinding",
    "InsecureProtocol",
    "TLSSettings",
    "UseCertificateOf",
    "build_context",
    "certified_context",
    "protocol_versions",
    "session_context",
]

#: pyOpenSSL's method constants (``OpenSSL.SSL.*_METHOD``) are plain ints;
#: the stdlib's are ``ssl._SSLMethod`` members. Values from pyOpenSSL 23-26.
_PYOPENSSL_METHODS: dict[int, str] = {
    1: "SSLv2",
    2: "SSLv3",
    3: "TLS",  # SSLv23_METHOD: negotiate the best version
    4: "TLSv1",
    5: "TLSv1.1",
    6: "TLSv1.2",
    7: "TLS",  # TLS_METHOD
    8: "TLS",  # TLS_SERVER_METHOD
}
#: pyOpenSSL's ``SSL.TLS_SERVER_METHOD``, the default ``ssl_protocol`` (as
#: in pyftpdlib), given by value so that pyOpenSSL need not be imported.
PYOPENSSL_TLS_SERVER_METHOD = 8
#: The default ``ssl_options``: pyOpenSSL's ``OP_NO_SSLv2 | OP_NO_SSLv3 |
#: OP_NO_COMPRESSION`` (OpenSSL's bits, the same in the stdlib).
DEFAULT_SSL_OPTIONS = int(ssl.OP_NO_SSLv2 | ssl.OP_NO_SSLv3 | ssl.OP_NO_COMPRESSION)
_STDLIB_METHODS: dict[int, str] = {
    int(ssl.PROTOCOL_TLS): "TLS",
    int(ssl.PROTOCOL_TLS_SERVER): "TLS",
    int(ssl._SSLMethod.PROTOCOL_TLSv1_2): "TLSv1.2",
}
_VERSIONS = {
    "TLS": (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.MAXIMUM_SUPPORTED),
    "TLSv1.2": (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2),
}

#: Options every context gets: no compression (CRIME), the server's cipher
#: order, and an upload that ends with a bare TCP FIN instead of close_notify
#: read as a normal end of file (as vsftpd's ``strict_ssl_read_eof=NO``).
SAFE_OPTIONS = (
    ssl.OP_NO_COMPRESSION
    | ssl.OP_CIPHER_SERVER_PREFERENCE
    | ssl.OP_IGNORE_UNEXPECTED_EOF
    | ssl.OP_NO_RENEGOTIATION
)

#: A context for one control session: a stdlib ``ssl.SSLContext`` or a
#: pyOpenSSL ``SSL.Context``.
TLSContext: TypeAlias = object
#: Something that builds a fresh context each time it is called.
ContextFactory: TypeAlias = Callable[[], TLSContext]
#: A stdlib ``sni_callback``: (connection, server name or None, context) ->
#: None to go on, or an alert to refuse the handshake.
SNICallback: TypeAlias = Callable[
    [ssl.SSLObject | ssl.SSLSocket, str | None, ssl.SSLContext], int | None
]


class InsecureProtocol(ValueError):
    """``ssl_protocol`` asks for SSL 2/3 or TLS 1.0/1.1, which trioftp refuses."""


class DataSessionBinding(enum.Enum):
    """Whether a protected data connection must resume the control session's TLS session.

    * ``REQUIRED``: it must, or the transfer is refused (``522``). This stops
      anybody else - even a client behind the same NAT that did an
      ``AUTH TLS`` of its own - from stealing a passive data connection.
      Python's ftplib does not resume sessions, so it can't transfer under
      this policy; curl and lftp do.
    * ``PREFERRED`` (the default): a data connection that does not resume is
      accepted and logged.
    * ``OFF``: no check, and all sessions share one context (cheapest login).
    """

    REQUIRED = "required"
    PREFERRED = "preferred"
    OFF = "off"


def protocol_versions(protocol: object) -> tuple[ssl.TLSVersion, ssl.TLSVersion]:
    """Translate ``ssl_protocol`` (pyOpenSSL or stdlib constant) into version bounds.

    Negotiating methods mean TLS 1.2 or newer; ``TLSv1_2_METHOD`` pins 1.2;
    anything older raises :class:`InsecureProtocol`.
    """
    if protocol is None:
        name = "TLS"
    elif isinstance(protocol, ssl._SSLMethod):
        name = _STDLIB_METHODS.get(int(protocol), "old")
    elif isinstance(protocol, int):
        name = _PYOPENSSL_METHODS.get(protocol, "unknown")
    else:
        raise TypeError(f"ssl_protocol must be an SSL method constant, not {protocol!r}")
    if name not in _VERSIONS:
        raise InsecureProtocol(
            f"ssl_protocol {protocol!r} selects {name}; trioftp speaks TLS 1.2 or newer only"
        )
    return _VERSIONS[name]


def _host_set(hosts: Collection[str] | None) -> frozenset[str] | None:
    return None if hosts is None else frozenset(hosts)


@attrs.frozen
class TLSSettings:
    """The TLS settings of a handler class, as one comparable value."""

    certfile: str
    keyfile: str | None = None
    protocol: object = None
    options: int | None = None
    sni_hosts: frozenset[str] | None = attrs.field(default=None, converter=_host_set)


def build_context(settings: TLSSettings) -> ssl.SSLContext:
    """Build a server context from *settings* (reads the certificate files: blocking).

    ``ssl_options`` are OpenSSL option bits, the same numbers in pyOpenSSL
    and the stdlib, so they are added as they are; the safe options and the
    TLS 1.2 floor are always applied on top.
    """
    context = _bare_context(settings)
    context.load_cert_chain(settings.certfile, settings.keyfile)
    if settings.sni_hosts is not None:
        require_known_sni(context, settings.sni_hosts)
    return context


def session_context(settings: TLSSettings, sni_callback: SNICallback) -> ssl.SSLContext:
    """A context for one control session and its data connections, with no certificate.

    Its session cache is the session's own: TLS 1.2 resumes by session id
    (no tickets), so a resumed session can be compared with the control one.
    *sni_callback*, which OpenSSL calls on every handshake (with a server
    name or none), must move the connection to a context with a certificate
    (:class:`UseCertificateOf`, or a :class:`~.sni.ServerNameRouter` with a
    fallback) or refuse it.
    """
    context = _bare_context(settings)
    context.options |= ssl.OP_NO_TICKET
    context.sni_callback = sni_callback
    return context


def _bare_context(settings: TLSSettings) -> ssl.SSLContext:
    minimum, maximum = protocol_versions(settings.protocol)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = minimum
    context.maximum_version = maximum
    context.options |= SAFE_OPTIONS | int(settings.options or 0)
    return context


_CertificateStamp: TypeAlias = tuple[tuple[int, int, int], ...]
_CERTIFIED: dict[TLSSettings, tuple[_CertificateStamp, ssl.SSLContext]] = {}


def certified_context(settings: TLSSettings) -> ssl.SSLContext:
    """The shared context with *settings*' certificate (blocking: stats the files).

    Built once, and again whenever the certificate or key file changes (a
    renewed certificate is presented from the next login on; sessions
    already running keep theirs). Files that don't make a usable pair
    (a renewal half done) leave the last good context in use, with a
    warning.
    """
    files = (
        (settings.certfile,) if settings.keyfile is None else (settings.certfile, settings.keyfile)
    )
    stamp = tuple(_file_stamp(path) for path in files)
    known = _CERTIFIED.get(settings)
    if known is not None and known[0] == stamp:
        return known[1]
    # Two sessions may race to build it: both contexts are right, one is kept.
    try:
        context = build_context(settings)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        if known is None:
            raise
        # A renewal half done (the new certificate, the old key): keep
        # presenting the last good pair, and try again at the next login.
        logger.warning("TLS certificate %s not reloaded: %s", settings.certfile, exc)
        return known[1]
    _CERTIFIED[settings] = (stamp, context)
    return context


def _file_stamp(path: str) -> tuple[int, int, int]:
    status = os.stat(path)
    return (status.st_ino, status.st_size, status.st_mtime_ns)


def require_known_sni(context: ssl.SSLContext, hosts: Collection[str]) -> None:
    """Refuse handshakes whose SNI names a host outside *hosts* (ALPACA hardening).

    A client that sends no SNI (an IP address) is accepted.
    """
    context.sni_callback = UseCertificateOf(None, hosts)


class UseCertificateOf:
    """An ``sni_callback`` that presents *certified*'s certificate on every handshake.

    With *known_hosts*, a handshake naming another host is refused first
    (one that names none is accepted). With *certified* None the connection
    keeps its context: only the names are checked.
    """

    __slots__ = ("_known", "certified")

    def __init__(
        self, certified: ssl.SSLContext | None, known_hosts: Collection[str] | None = None
    ) -> None:
        self.certified = certified
        self._known = (
            None
            if known_hosts is None
            else frozenset(host.lower().rstrip(".") for host in known_hosts)
        )

    def __call__(
        self, connection: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: ssl.SSLContext
    ) -> int | None:
        """Refuse an unknown name; otherwise switch *connection* to the certified context."""
        known = self._known
        if name is not None and known is not None and name.lower().rstrip(".") not in known:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        if self.certified is not None:
            connection.context = self.certified
        return None
