"""The one interface command groups use: :class:`CommandContext`.

The ``ftp_<CMD>`` methods of :mod:`trioftp.session.commands` are written
against this protocol (``self: CommandContext``), never against each other
or the session's internals; :class:`trioftp.handlers.FTPHandler` provides it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, TypeVar

import trio

from ..authorizers import Authorizer
from ..filesystems import AbstractedFS
from ..limits import Account, QuotaTracker, UserLimits
from ..protocol.replies import Reply
from .control import ControlChannel
from .dataconn import DataChannel
from .digestcache import DigestCache
from .events import EventSource, SessionEvents
from .sites import Site, SiteTable
from .state import SessionState
from .tls import TLSProtection
from .transfers import Transfers

__all__ = ["CommandContext"]

T = TypeVar("T")


class CommandContext(EventSource, Protocol):
    """A session as its commands see it: settings, state, parts and services."""

    # Settings (class attributes of the handler).
    authorizer: Authorizer
    abstracted_fs: type[AbstractedFS]
    encoding: str
    unicode_errors: str
    max_login_attempts: int
    auth_failed_timeout: float
    permit_foreign_addresses: bool
    permit_privileged_ports: bool
    active_connect_at_port: bool
    mlsd_dot_entries: bool
    masquerade_address: str | None
    host_names: Sequence[str]
    sites: SiteTable | Sequence[Site]
    banner: str
    listing_chunk_size: int
    hash_algorithm: str
    hash_block_size: int
    hash_max_size: int
    hash_session_budget: int
    hash_uploads: bool
    hash_cache: DigestCache | None
    atomic_uploads: bool
    atomic_upload_expiry: float

    @property
    def proto_cmds(self) -> Mapping[str, Mapping[str, object]]: ...
    @property
    def masquerade_address_map(self) -> Mapping[str, str]: ...

    # The connection (remote_ip comes with EventSource).
    local_ip: str

    # State and parts.
    session_state: SessionState
    fs: AbstractedFS | None
    control_channel: ControlChannel
    session_events: SessionEvents
    tls_protection: TLSProtection | None
    site: Site | None

    @property
    def vfs(self) -> AbstractedFS: ...
    @property
    def username(self) -> str: ...
    @property
    def authenticated(self) -> bool: ...
    @property
    def data_connections(self) -> DataChannel: ...
    @property
    def transfers(self) -> Transfers: ...
    @property
    def nursery(self) -> trio.Nursery: ...

    # Services.
    def respond(self, resp: str, logfun: Callable[[str], None] = ...) -> None: ...
    def reply(self, reply: Reply, logfun: Callable[[str], None] = ...) -> None: ...
    def respond_w_warning(self, resp: str) -> None: ...
    async def reply_now(self, reply: Reply | str) -> None: ...
    async def run_blocking(self, function: Callable[..., T], *args: object) -> T: ...
    def logerror(self, msg: str) -> None: ...
    def log_exception(self, msg: str) -> None: ...
    def close(self) -> None: ...
    def close_when_done(self) -> None: ...
    def status_lines(self) -> list[str]: ...
    def check_path(self, path: str, perm: str) -> str | None: ...
    def start_login(self, username: str, password: str, home: str) -> None: ...
    async def run_password_check(self, function: Callable[[], T]) -> T: ...
    def enter_account(self, username: str, limits: UserLimits) -> bool: ...
    @property
    def account(self) -> Account | None: ...
    @property
    def quota(self) -> QuotaTracker: ...
    async def logout(self) -> None: ...
    def select_site(self, site: Site | None) -> None: ...
    def forget_site(self) -> None: ...
    def mlsx_perm_fact(self, perms: str) -> Callable[[str, bool], str]: ...
    async def call_command(self, name: str, *args: object, **kwargs: object) -> None:
        """Call the handler's ``ftp_<name>`` (a subclass's override included)."""
        ...
