"""Session handlers: :class:`FTPHandler` and the data-transfer handlers.

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
:meth:`FTPHandler.run_blocking`, which runs the call in a worker thread.
Filesystem (:class:`~trioftp.filesystems.AbstractedFS`) and authorizer methods
are always called in worker threads, so they may block.

A built-in command method is a coroutine function; an override that wants the
original behaviour must ``await super().ftp_RETR(path)``. Add a command as in
pyftpdlib: extend ``proto_cmds`` and define ``ftp_<NAME>(self, line)``, answering
with :meth:`FTPHandler.respond`.
"""

from __future__ import annotations

from OpenSSL import SSL

from .dtp import DTPHandler, ThrottledDTPHandler, TLS_DTPHandler
from .protocol.commands import proto_cmds
from .session.files import FileCommands
from .session.info import InfoCommands
from .session.listings import ListingCommands
from .session.login import LoginCommands
from .session.navigation import NavigationCommands
from .session.tls import TLS_COMMANDS, TLSCommands

__all__ = ["DTPHandler", "FTPHandler", "TLS_DTPHandler", "TLS_FTPHandler", "ThrottledDTPHandler"]


class FTPHandler(LoginCommands, NavigationCommands, InfoCommands, ListingCommands, FileCommands):
    """The FTP protocol interpreter: one instance per control connection.

    See the module documentation for configuration and for where methods run.
    Public session state, as in pyftpdlib: ``fs``, ``username``,
    ``authenticated``, ``remote_ip``, ``remote_port``, ``attempted_logins``,
    ``data_channel``, ``server``.
    """

    dtp_handler: type[DTPHandler] = DTPHandler


class TLS_FTPHandler(TLSCommands, FTPHandler):
    """An :class:`FTPHandler` with FTPS (RFC 4217): explicit ``AUTH TLS`` or implicit.

    Configure it as in pyftpdlib::

        handler = TLS_FTPHandler
        handler.certfile = "keycert.pem"
        handler.authorizer = authorizer
        handler.tls_control_required = True
        handler.tls_data_required = True

    ``ssl_context`` may be a stdlib :class:`ssl.SSLContext`, a pyOpenSSL
    ``SSL.Context`` or a function returning a new context per session. See
    :mod:`trioftp.session.tls` for the trioftp-only settings (implicit FTPS,
    data-session binding, strict SNI).
    """

    ssl_protocol: object = SSL.TLS_SERVER_METHOD
    ssl_options: int | None = SSL.OP_NO_SSLv2 | SSL.OP_NO_SSLv3 | SSL.OP_NO_COMPRESSION
    dtp_handler: type[DTPHandler] = TLS_DTPHandler
    proto_cmds = {**FTPHandler.proto_cmds, **proto_cmds(TLS_COMMANDS)}
