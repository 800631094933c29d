"""How fast one session may send commands: a flood is slowed, then cut.

A token bucket on Trio's clock: *burst* commands at once, then *rate* per
second; a command beyond that waits its turn. A session that has been held to
the rate without a break for *cutoff* seconds while sending commands ahead of
the replies is flooding and is cut off. One that waits for each reply - on
loopback or a fast LAN that can be faster than the rate, say a mirror tool
asking SIZE of every file - is only slowed: it can't queue more work than
one command.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["CommandPacer"]


class CommandPacer:
    """The command budget of one session."""

    __slots__ = ("_burst", "_cutoff", "_rate", "_stamp", "_throttled_since", "_tokens")

    def __init__(self, rate: float, burst: int, cutoff: float, now: float) -> None:
        self._rate = rate
        self._burst = float(max(burst, 1))
        self._cutoff = cutoff
        self._tokens = self._burst
        self._stamp = now
        self._throttled_since: float | None = None

    def delay(self, now: float, queued: Callable[[], bool] | None = None) -> float | None:
        """Take one command's token: seconds to wait before running it (0: at
        once), or None if the session has been flooding for *cutoff* seconds.

        *queued()*, asked only when the session is throttled, says whether
        the client is sending commands ahead of the replies (pipelining); a
        throttled session that waits for each reply is not flooding.
        Without it every throttled command counts.
        """
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            self._throttled_since = None
            return 0.0
        if queued is not None and not queued():
            self._throttled_since = None
        elif self._throttled_since is None:
            self._throttled_since = now
        elif self._cutoff and now - self._throttled_since >= self._cutoff:
            return None
        self._tokens -= 1
        return -self._tokens / self._rate
