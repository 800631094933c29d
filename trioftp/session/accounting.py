"""The session's side of the per-user and server-wide limits (see :mod:`trioftp.limits`).

At login the session enters its user's :class:`~trioftp.limits.Account` in
its server's :class:`~trioftp.limits.Accounts` (refused at the user's
``max_sessions``) and leaves it at logout or at the end; meanwhile the
account gives the session its bandwidth buckets and its quota. Password
checks run here too, a few at a time per server, and transfers find their
server's buffer memory budget here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import trio

from ..limits import (
    NO_QUOTA,
    Account,
    Accounts,
    Bandwidth,
    MemoryBudget,
    QuotaTracker,
    UserLimits,
)

__all__ = ["SessionAccounting"]

T = TypeVar("T")


class _Runs(Protocol):
    server: Any

    async def run_blocking(self, function: Callable[..., T], *args: Any) -> T: ...


class SessionAccounting:
    """The logged-in user's account, and what it limits (a part of the session)."""

    #: The session's server (set by the session).
    server: Any
    #: The logged-in user's account in :attr:`accounts` (None before login).
    account: Account | None = None
    _own_accounts: Accounts | None = None

    @property
    def accounts(self) -> Accounts:
        """The registry of logged-in users: the server's, else this session's own."""
        accounts = getattr(self.server, "accounts", None)
        if isinstance(accounts, Accounts):
            return accounts
        if self._own_accounts is None:
            self._own_accounts = Accounts()
        return self._own_accounts

    @property
    def bandwidth(self) -> Bandwidth | None:
        """The buckets limiting this session's transfers (the user's, the server's)."""
        return self.accounts.bandwidth(self.account)

    @property
    def transfer_memory(self) -> MemoryBudget | None:
        """The server's budget of transfer buffer memory (None: no server, no limit)."""
        budget = getattr(self.server, "transfer_memory", None)
        return budget if isinstance(budget, MemoryBudget) else None

    @property
    def quota(self) -> QuotaTracker:
        """The logged-in user's quota (:data:`~trioftp.limits.NO_QUOTA` without one)."""
        usage = self.account.usage if self.account is not None else None
        return NO_QUOTA if usage is None else QuotaTracker(usage)

    def enter_account(self, username: str, limits: UserLimits) -> bool:
        """Count this login in *username*'s account; False if they are at ``max_sessions``."""
        self._leave_account()
        account = self.accounts.enter(username, limits)
        self.account = account
        return account is not None

    def _leave_account(self) -> None:
        """Count this session out of its user's account (logout, the end)."""
        account = self.account
        if account is not None:
            self.account = None
            self.accounts.leave(account)

    async def run_password_check(self: _Runs, function: Callable[[], T]) -> T:
        """Run a login's password check in the runner, a few at a time per server.

        The server's ``login_limiter`` bounds the checks in progress, so
        that a storm of logins waits on the event loop instead of taking
        every worker thread from the transfers.
        """
        limiter = getattr(self.server, "login_limiter", None)
        if not isinstance(limiter, trio.CapacityLimiter):
            return await self.run_blocking(function)
        async with limiter:
            return await self.run_blocking(function)
