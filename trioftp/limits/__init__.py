"""Per-user and server-wide limits: bandwidth, quotas and sessions.

* :class:`UserLimits` - what an authorizer may set for one user
  (``get_user_limits(username)``; the users file's ``[users.NAME.limits]``);
* :class:`TokenBucket` and :class:`Bandwidth` - rate limits shared by several
  transfers, on Trio's clock (:mod:`.buckets`);
* :class:`QuotaUsage` and :class:`QuotaTracker` - a user's bytes and files,
  counted once per user and kept up to date by their sessions (:mod:`.quota`);
* :class:`Accounts` - the server-wide registry that holds all of them
  (:mod:`.accounts`);
* :class:`MemoryBudget` - the server-wide bytes of transfer buffers, and
  :class:`MemoryShare`, one transfer's part of it (:mod:`.memory`).
"""

from .accounts import NO_LIMITS, Account, Accounts, UserLimits
from .buckets import Bandwidth, TokenBucket
from .memory import MemoryBudget, MemoryShare
from .quota import NO_QUOTA, QuotaTracker, QuotaUsage, scan_usage

__all__ = [
    "NO_LIMITS",
    "NO_QUOTA",
    "Account",
    "Accounts",
    "Bandwidth",
    "MemoryBudget",
    "MemoryShare",
    "QuotaTracker",
    "QuotaUsage",
    "TokenBucket",
    "UserLimits",
    "scan_usage",
]
