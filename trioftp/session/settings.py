"""The settings of an FTP session: class attributes, set the way pyftpdlib programs do.

handler = FTPHandler
handler.authorizer = authorizer
handler.timeout = 600
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import trio

from .._version import __version__
from ..authorizers import Authorizer, DummyAuthorizer
from ..filesystems import AbstractedFS
from ..protocol.commands import COMMANDS, proto_cmds
from ..protocol.framing import DEFAULT_MAX_LINE
from .auditlog import AUDITED_COMMANDS
from .transfers import DataMover

__all__ = ["SessionSettings"]


class SessionSettings:
    """Every setting of a session, with its default (pyftpdlib's, unless marked trioftp)."""

    #: Checks passwords and permissions (see :mod:`trioftp.authorizers`).
    authorizer: Authorizer = DummyAuthorizer()
    #: The filesystem class; one instance per logged-in session.
    abstracted_fs: type[AbstractedFS] = AbstractedFS
    #: The class that moves a transfer's bytes (see :mod:`trioftp.dtp`),
    #: called as ``dtp_handler(stream, handler)``.
    dtp_handler: Callable[[trio.abc.Stream, Any], DataMover]
    #: The command table in pyftpdlib's format: name -> perm, auth, arg, help.
    proto_cmds: ClassVar[dict[str, dict[str, object]]] = proto_cmds(COMMANDS.values())
    #: Seconds a client may stay idle between commands (``0``/None: forever).
    timeout: float | None = 300
    #: Text of the ``220`` greeting (several lines allowed).
    banner: str = f"trioftp {__version__} ready."
    #: Failed logins after which the connection is closed.
    max_login_attempts: int = 3
    #: Allow data connections with another host than the client (FXP).
    permit_foreign_addresses: bool = False
    #: Allow PORT/EPRT to ports below 1024.
    permit_privileged_ports: bool = False
    #: Address announced in PASV replies instead of the local one (NAT).
    masquerade_address: str | None = None
    #: Per local address masquerade addresses: ``{"10.0.0.1": "1.2.3.4"}``.
    masquerade_address_map: ClassVar[dict[str, str]] = {}
    #: Ports used for passive data connections (None: the kernel chooses).
    passive_ports: Sequence[int] | None = None
    #: LIST times in UTC (True) or local time; MDTM and MLSx are always UTC.
    use_gmt_times: bool = True
    #: Set TCP_NODELAY on the control connection.
    tcp_no_delay: ClassVar[bool] = True
    #: Send plain binary downloads with ``os.sendfile``.
    use_sendfile: bool = hasattr(os, "sendfile")
    #: Encoding of commands and replies (RFC 2640: UTF-8).
    encoding: str = "utf8"
    #: Error handler for the encoding; the default keeps undecodable bytes
    #: of file names intact in both directions.
    unicode_errors: str = "surrogateescape"
    #: Prefix of every log line; instance attributes may be used.
    log_prefix: str = "%(remote_ip)s:%(remote_port)s-[%(username)s]"
    #: The commands ``log_cmd`` logs at INFO, with their path and reply
    #: (pyftpdlib's list and every other command that changes or reveals
    #: the filesystem; see :mod:`trioftp.session.auditlog`).
    log_cmds_list: Sequence[str] = AUDITED_COMMANDS
    #: Seconds to wait before answering a failed login (slows guessing).
    auth_failed_timeout: float = 3
    #: trioftp: seconds to wait for a data connection to be made.
    data_connect_timeout: float = 30
    #: trioftp: longest accepted command line, in bytes.
    max_line_length: int = DEFAULT_MAX_LINE
    #: trioftp: bytes of listing lines made per runner call (LIST, NLST, MLSD).
    listing_chunk_size: int = 1 << 20
    #: trioftp: host names the ``HOST`` command accepts, besides the server's
    #: own address and ``localhost`` on loopback (RFC 7151).
    host_names: Sequence[str] = ()
