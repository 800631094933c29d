"""Session handlers: :class:`FTPHandler`, :class:`TLS_FTPHandler` and the data-transfer handlers.

Configure a handler the way pyftpdlib programs do, with class attributes::

    from trioftp.authorizers import DummyAuthorizer
    from trioftp.handlers import FTPHandler

    authorizer = DummyAuthorizer()
    authorizer.add_user("user", "12345", "/home/user", perm="elradfmwMT")
    handler = FTPHandler
    handler.authorizer = authorizer
    handler.banner = "Welcome."

Where code runs
---------------

Every session is one Trio task. Command methods (``ftp_<CMD>``) and callbacks
(``on_login``, ``on_file_received``, ...) may be plain methods, as in
pyftpdlib, or ``async def``; both run in the session's task, on the event loop,
so a plain method must not block (a slow database call there stalls every
session). Make such a method ``async def`` and use
:meth:`FTPHandler.run_blocking`, which runs the call in the session's runner
(a worker thread, unless the server was given another runner).

Filesystem (:class:`~trioftp.filesystems.AbstractedFS`) and authorizer
methods that read or change storage or check passwords run in the runner, so
they may block. A few calls run on the event loop because they only compute:
the filesystem's constructor and path translation (``ftpnorm``, ``ftp2fs``,
``fs2ftp``, reading ``cwd``), and the login lookups of an unmodified
:class:`~trioftp.authorizers.DummyAuthorizer` (its in-memory table); the
modules :mod:`trioftp.filesystems` and :mod:`trioftp.authorizers` list them.

A built-in command method is a coroutine function (or a plain method); an
override that wants the original behaviour calls ``super().ftp_RETR(path)``
and awaits it if it is awaitable. Add a command as in pyftpdlib: extend
``proto_cmds`` and define ``ftp_<NAME>(self, line)``, answering with
:meth:`FTPHandler.respond`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from .dtp import DTPHandler, ThrottledDTPHandler, TLS_DTPHandler
from .log import logger
from .protocol.commands import TLS_COMMANDS, proto_cmds
from .session.commands import (
    DataConnectionCommands,
    FileCommands,
    HashCommands,
    InfoCommands,
    ListingCommands,
    LoginCommands,
    NavigationCommands,
    TLSCommands,
)
from .session.core import Session
from .session.dataconn import ActiveDTP, PassiveDTP
from .session.tls import TLSProtection
from .session.transfers import DataMover
from .tls.contexts import DEFAULT_SSL_OPTIONS, PYOPENSSL_TLS_SERVER_METHOD, DataSessionBinding

__all__ = [
    "ActiveDTP",
    "DTPHandler",
    "FTPHandler",
    "PassiveDTP",
    "TLS_DTPHandler",
    "TLS_FTPHandler",
    "ThrottledDTPHandler",
]

T = TypeVar("T")

#: Methods of trioftp's earlier mixin session that a subclass could override
#: and that nothing calls any more (docs/compatibility.md says what replaced each).
REMOVED_HOOKS = frozenset(
    {
        "abort_transfer", "binding", "data_channel_status", "data_connection_ready",
        "features", "has_data_endpoint", "held_commands", "open_data_connection",
        "overrides", "path_command", "perm_of", "prepare_control_connection",
        "refuse_transfer", "run_command", "run_transfer", "secure_data_connection",
        "tls_configured", "tls_settings", "transfer_running", "unknown_command",
    }
)  # fmt: skip


class FTPHandler(
    Session,
    LoginCommands,
    InfoCommands,
    NavigationCommands,
    DataConnectionCommands,
    FileCommands,
    ListingCommands,
    HashCommands,
):
    """The FTP protocol interpreter: one instance per control connection.

    A :class:`~trioftp.session.core.Session` (its parts, its life) with every
    plain-FTP command group. See the module documentation for configuration
    and for where methods run. Public session state, as in pyftpdlib:
    ``fs``, ``username``, ``authenticated``, ``remote_ip``, ``remote_port``,
    ``attempted_logins``, ``data_channel``, ``server``.
    """

    dtp_handler = DTPHandler

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        removed = sorted(name for name in REMOVED_HOOKS if name in vars(cls))
        if removed:
            warnings.warn(
                f"{cls.__name__} defines {', '.join(removed)}, which trioftp no longer "
                "calls (see docs/compatibility.md)",
                stacklevel=2,
            )

    # --- pyftpdlib's names for the session's state

    @property
    def username(self) -> str:
        """The user name given with USER (logged in or not)."""
        return self.session_state.username

    @username.setter
    def username(self, value: str) -> None:
        self.session_state.username = value

    @property
    def password(self) -> str:
        """The password the user logged in with."""
        return self.session_state.password

    @password.setter
    def password(self, value: str) -> None:
        self.session_state.password = value

    @property
    def authenticated(self) -> bool:
        """True once the user has logged in."""
        return self.session_state.authenticated

    @authenticated.setter
    def authenticated(self, value: bool) -> None:
        self.session_state.authenticated = value

    @property
    def attempted_logins(self) -> int:
        """Failed logins so far in this session."""
        return self.session_state.attempted_logins

    @attempted_logins.setter
    def attempted_logins(self, value: int) -> None:
        self.session_state.attempted_logins = value

    @property
    def requested_host(self) -> str | None:
        """The host name the client selected with HOST (RFC 7151), if any."""
        return self.session_state.requested_host

    @property
    def data_channel(self) -> DataMover | None:
        """The data handler (a :class:`DTPHandler`) of the transfer in progress, if any."""
        return self.transfers.mover

    # --- pyftpdlib's ways to answer and to run as the user

    def respond_w_warning(self, resp: str) -> None:
        """Queue a reply and log it as a warning."""
        self.respond(resp, logfun=logger.warning)

    def push(self, data: str) -> None:
        """Queue *data* for the client as it is (CRLFs included), as pyftpdlib's ``push``.

        Unlike :meth:`respond`, nothing is checked or framed: the caller
        writes well-formed reply lines.
        """
        self.control_channel.push_raw(data)

    def run_as_current_user(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call *function* now, impersonating the logged-in user (blocking).

        With :class:`~trioftp.authorizers.UnixAuthorizer` the call runs in one
        of the session's user threads, and this waits for it (from such a
        thread it is a plain call); in ``async def`` code prefer
        :meth:`run_blocking`, which does not block the event loop.
        """
        call_as_user = getattr(self.runner, "call_as_user", None)
        if call_as_user is not None:
            return call_as_user(function, *args, **kwargs)  # type: ignore[no-any-return]
        return function(*args, **kwargs)


class TLS_FTPHandler(TLSCommands, FTPHandler):
    """An :class:`FTPHandler` with FTPS (RFC 4217): explicit ``AUTH TLS`` or implicit.

    Configure it as in pyftpdlib::

        handler = TLS_FTPHandler
        handler.certfile = "keycert.pem"
        handler.authorizer = authorizer
        handler.tls_control_required = True
        handler.tls_data_required = True

    ``ssl_context`` may be a stdlib :class:`ssl.SSLContext`, a pyOpenSSL
    ``SSL.Context`` or a function returning a new context per session. The
    trioftp-only settings (implicit FTPS, data-session binding, strict SNI)
    are below; :mod:`trioftp.session.tls` says how the protection works.
    """

    #: Certificate chain file (PEM); with the key in it unless *keyfile* is set.
    certfile: str | None = None
    #: Private key file (PEM).
    keyfile: str | None = None
    #: TLS method: pyOpenSSL's (``SSL.TLS_METHOD``...) or the stdlib's constants.
    ssl_protocol: object = PYOPENSSL_TLS_SERVER_METHOD
    #: OpenSSL option bits added to the safe defaults (same values in both libraries).
    ssl_options: int | None = DEFAULT_SSL_OPTIONS
    #: A ready context (stdlib ``ssl.SSLContext`` or pyOpenSSL ``SSL.Context``, the
    #: latter with ``trioftp[pyopenssl]``),
    #: or a function returning a new one for each session; overrides the above.
    ssl_context: object = None
    #: Refuse USER/PASS before AUTH (``530``).
    tls_control_required: bool = False
    #: Refuse transfers without PROT P (``522``).
    tls_data_required: bool = False
    #: trioftp: implicit FTPS - TLS from the first byte, data always protected.
    tls_implicit: bool = False
    #: trioftp: seconds allowed for a TLS handshake (or CCC's shutdown).
    tls_handshake_timeout: float = 30
    #: trioftp: must data connections resume the control session's TLS session?
    tls_data_session_binding: DataSessionBinding | str = DataSessionBinding.PREFERRED
    #: trioftp: host names SNI may name; None accepts any (strict SNI when set).
    tls_sni_hosts: Collection[str] | None = None
    #: trioftp: refuse TLS handshakes whose SNI names no site (see ``sites``)
    #: and no name of the handler's own (``host_names``, ``tls_sni_hosts``),
    #: or names nothing at all (an ``unrecognized_name`` alert).
    tls_strict_sni: bool = False
    #: trioftp: an upload under ``PROT P`` must end with the client's TLS
    #: close_notify; a bare TCP FIN ends it with ``426`` (the partial file is
    #: kept, as after any cut-short upload). vsftpd's ``strict_ssl_read_eof``.
    tls_strict_eof: bool = False

    protection = TLSProtection
    dtp_handler = TLS_DTPHandler
    proto_cmds = {**FTPHandler.proto_cmds, **proto_cmds(TLS_COMMANDS.values())}
