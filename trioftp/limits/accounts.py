"""The server-wide registry of logged-in users: session counts, shared buckets, quotas.

A server keeps one :class:`Accounts` per run (``FTPServer.accounts``). Each
login enters the user's :class:`Account` - made at the user's first
session, dropped after the last - so that the user's sessions share one
session count, one pair of bandwidth buckets and one quota usage. A session
without a server keeps an :class:`Accounts` of its own.
"""

from __future__ import annotations

import attrs
import trio

from .buckets import Bandwidth, TokenBucket
from .quota import QuotaUsage

__all__ = ["Account", "Accounts", "UserLimits"]


def _non_negative(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{attribute.name} must be a non-negative integer, not {value!r}")


@attrs.frozen
class UserLimits:
    """One user's limits; ``0`` means no limit.

    An authorizer offers them with ``get_user_limits(username)``
    (:class:`~trioftp.userfile.UsersFileAuthorizer` reads them from the
    users file).
    """

    #: Bytes per second sent to the user, all their sessions together.
    max_download_rate: int = attrs.field(default=0, validator=_non_negative)
    #: Bytes per second received from the user, all their sessions together.
    max_upload_rate: int = attrs.field(default=0, validator=_non_negative)
    #: Bytes the user's files may take in their home.
    quota_bytes: int = attrs.field(default=0, validator=_non_negative)
    #: Regular files the user may have in their home.
    quota_files: int = attrs.field(default=0, validator=_non_negative)
    #: Sessions the user may have logged in at once.
    max_sessions: int = attrs.field(default=0, validator=_non_negative)


NO_LIMITS = UserLimits()


def _bucket(bucket: TokenBucket | None, rate: int) -> TokenBucket | None:
    """*bucket* at *rate* (made or updated), or None for no limit."""
    if not rate:
        return None
    if bucket is None:
        return TokenBucket(rate)
    if bucket.rate != rate:
        bucket.set_rate(rate)
    return bucket


@attrs.define(eq=False)
class Account:
    """One logged-in user's state, shared by their sessions."""

    username: str
    limits: UserLimits = NO_LIMITS
    #: Sessions logged in as the user now.
    sessions: int = 0
    download: TokenBucket | None = None
    upload: TokenBucket | None = None
    #: The quota usage (None without a quota).
    usage: QuotaUsage | None = None
    #: Set once the usage has been counted (None: nobody has started).
    counted: trio.Event | None = None

    def update(self, limits: UserLimits) -> None:
        """Apply *limits* (the authorizer's answer at the latest login)."""
        self.limits = limits
        self.download = _bucket(self.download, limits.max_download_rate)
        self.upload = _bucket(self.upload, limits.max_upload_rate)
        if limits.quota_bytes or limits.quota_files:
            if self.usage is None:
                self.usage = QuotaUsage()
                self.counted = None
            self.usage.max_bytes = limits.quota_bytes
            self.usage.max_files = limits.quota_files
        else:
            self.usage, self.counted = None, None


class Accounts:
    """Every logged-in user's :class:`Account`, and the server-wide buckets.

    *max_download_rate* and *max_upload_rate* (bytes per second, ``0``: no
    limit) are shared by every session of the server.
    """

    def __init__(self, max_download_rate: int = 0, max_upload_rate: int = 0) -> None:
        self.download = _bucket(None, max_download_rate)
        self.upload = _bucket(None, max_upload_rate)
        self._accounts: dict[str, Account] = {}

    def get(self, username: str) -> Account | None:
        """The account of *username* if a session of theirs is logged in."""
        return self._accounts.get(username)

    def enter(self, username: str, limits: UserLimits) -> Account | None:
        """Count a new session of *username*; None if they have ``max_sessions`` already."""
        account = self._accounts.get(username)
        if account is None:
            account = self._accounts[username] = Account(username)
        account.update(limits)
        if limits.max_sessions and account.sessions >= limits.max_sessions:
            return None
        account.sessions += 1
        return account

    def leave(self, account: Account) -> None:
        """A session of *account*'s user ended or logged out."""
        account.sessions -= 1
        if account.sessions <= 0 and self._accounts.get(account.username) is account:
            del self._accounts[account.username]

    def bandwidth(self, account: Account | None) -> Bandwidth | None:
        """The buckets limiting a session of *account* (None: no limit at all)."""
        mine = (account.download, account.upload) if account is not None else (None, None)
        download = [b for b in (mine[0], self.download) if b is not None]
        upload = [b for b in (mine[1], self.upload) if b is not None]
        if not download and not upload:
            return None
        return Bandwidth(download, upload)
