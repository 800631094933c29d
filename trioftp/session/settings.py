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
from .dataconn import ActiveDTP, PassiveDTP
from .digestcache import DigestCache
from .sites import Site, SiteTable
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
    #: trioftp: seconds to wait for a data connection to be made (0: no
    #: limit); ``passive_dtp.timeout`` and ``active_dtp.timeout`` override it.
    data_connect_timeout: float = 30
    #: pyftpdlib's classes of the data listener and connector: their
    #: ``timeout`` is how long a PASV/EPSV listener waits for the client,
    #: and how long connecting to a PORT/EPRT address may take.
    passive_dtp: type[PassiveDTP] = PassiveDTP
    active_dtp: type[ActiveDTP] = ActiveDTP
    #: trioftp: longest accepted command line, in bytes.
    max_line_length: int = DEFAULT_MAX_LINE
    #: trioftp: commands a session may send per second on average (0: no
    #: limit); faster ones wait their turn. A client that waits for each
    #: reply can pass it on loopback or a fast LAN (it is then slowed, never
    #: cut off); pipelined floods pass it anywhere.
    max_commands_per_second: float = 5000.0
    #: trioftp: commands a session may send at once before the rate applies.
    command_burst: int = 5000
    #: trioftp: seconds a session may be held to the command rate without a
    #: break, sending commands ahead of the replies, before ``421`` ends it
    #: as a flood (0: never).
    command_flood_cutoff: float = 30.0
    #: trioftp: blocking calls (filesystem, authorizer) one session may have
    #: running at once (0: no limit); the threads are shared by all sessions.
    max_blocking_calls: int = 4
    #: trioftp: bytes of listing lines made per runner call (LIST, NLST, MLSD).
    listing_chunk_size: int = 1 << 20
    #: trioftp: host names the ``HOST`` command accepts, besides the server's
    #: own address and ``localhost`` on loopback (RFC 7151).
    host_names: Sequence[str] = ()
    #: trioftp: the virtual hosts ``HOST`` and SNI select (RFC 7151): a
    #: :class:`~.sites.SiteTable` or a list of :class:`~.sites.Site`; a
    #: session that selects none uses the settings above.
    sites: SiteTable | Sequence[Site] = SiteTable()

    # File hashes (HASH, XCRC, XMD5, XSHA1, XSHA256, XSHA512; docs/hashes.md).
    #: trioftp: the algorithm HASH uses until OPTS HASH selects another
    #: (SHA-256, SHA-512, SHA-1, MD5 or CRC32).
    hash_algorithm: str = "SHA-256"
    #: trioftp: bytes read per block when hashing (one runner check per block).
    hash_block_size: int = 1 << 20
    #: trioftp: most bytes one hash command may read (``556`` beyond; 0: no limit).
    hash_max_size: int = 16 << 30
    #: trioftp: most bytes a session may read for hashes in all (``556`` beyond;
    #: 0: no limit). Hashes found in :attr:`hash_cache` cost nothing.
    hash_session_budget: int = 64 << 30
    #: trioftp: hash uploads (STOR, STOU) as they are written, in the selected
    #: algorithm, so HASH of a file just uploaded needs no second read.
    hash_uploads: bool = False
    #: trioftp: hashes known for unchanged files, shared by the handler's
    #: sessions (None: nothing is remembered).
    hash_cache: DigestCache | None = DigestCache()
    #: trioftp: write each upload to a hidden partial file next to its target,
    #: renamed onto the target only when the transfer ends with ``226``; a
    #: broken upload stays resumable (REST + STOR, APPE). See docs/uploads.md.
    atomic_uploads: bool = False
    #: trioftp: seconds after which a partial file nobody resumed is removed
    #: (at the next upload to its directory); ``0`` keeps them forever.
    atomic_upload_expiry: float = 24 * 3600

    # Choices where pyftpdlib's behaviour is the default (docs/compatibility.md).
    #: Connect to a PORT/EPRT address at once: ``200`` once connected, ``425``
    #: if it can't (pyftpdlib; RFC 959 leaves the moment to the server). Only
    #: the client's own address: a foreign one (``permit_foreign_addresses``)
    #: is connected when a transfer needs it, so PORT can't probe other hosts.
    #: False: always so, and the PORT reply never tells whether a port is open.
    active_connect_at_port: bool = True
    #: trioftp: MLSD also lists ``.`` (``type=cdir``) and ``..`` (``type=pdir``),
    #: entries RFC 3659 7.2 allows but does not require; pyftpdlib lists none.
    mlsd_dot_entries: bool = False
    #: QUIT sent during a transfer is answered at once (``221``, pyftpdlib) and
    #: the session closes after the transfer's final reply (RFC 959 4.1.1);
    #: commands after it are not run. False: QUIT waits its turn behind the
    #: transfer's reply. A QUIT behind other held commands always waits.
    quit_answered_during_transfer: bool = True
