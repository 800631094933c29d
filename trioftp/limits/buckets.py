"""Token buckets on Trio's clock: rate limits shared by several transfers.

A :class:`TokenBucket` holds up to *burst* bytes of credit and refills at
*rate* bytes per second, measured with :func:`trio.current_time` (so
:class:`trio.testing.MockClock` drives it in tests). A transfer takes its
bytes from every bucket that limits it - its user's, the server's - right
after moving them, and sleeps until the emptiest bucket is back out of debt.
Bytes taken by concurrent transfers add up, so the transfers sharing a
bucket share its rate between them.
"""

from __future__ import annotations

from collections.abc import Sequence

import trio

__all__ = ["Bandwidth", "TokenBucket"]


class TokenBucket:
    """A rate of *rate* bytes per second, with up to *burst* bytes at once.

    *burst* defaults to one second's worth. The bucket starts full at its
    first use.
    """

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: int, burst: int | None = None) -> None:
        if rate <= 0:
            raise ValueError("a token bucket needs a positive rate")
        self.rate = rate
        self.burst = burst if burst is not None else rate
        self._tokens = float(self.burst)
        self._stamp: float | None = None

    def set_rate(self, rate: int, burst: int | None = None) -> None:
        """Change the rate (a reloaded users file); the credit held is kept."""
        if rate <= 0:
            raise ValueError("a token bucket needs a positive rate")
        self.rate = rate
        self.burst = burst if burst is not None else rate
        self._tokens = min(self._tokens, float(self.burst))

    def take(self, nbytes: int) -> float:
        """Take *nbytes* of credit; return the seconds until the bucket is out of debt."""
        now = trio.current_time()
        if self._stamp is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= nbytes
        return -self._tokens / self.rate if self._tokens < 0 else 0.0


class Bandwidth:
    """The buckets that limit one session's downloads and uploads.

    Made by :meth:`~trioftp.limits.Accounts.bandwidth` at login; the data
    transfer handler (:class:`~trioftp.dtp.DTPHandler`) calls :meth:`sent`
    and :meth:`received` after moving bytes.
    """

    __slots__ = ("download", "upload")

    def __init__(self, download: Sequence[TokenBucket], upload: Sequence[TokenBucket]) -> None:
        #: The buckets bytes sent to the client (RETR, listings) are taken from.
        self.download = tuple(download)
        #: The buckets bytes received from the client (STOR, APPE, STOU) are taken from.
        self.upload = tuple(upload)

    @staticmethod
    async def _pace(buckets: tuple[TokenBucket, ...], nbytes: int) -> None:
        wait = max(bucket.take(nbytes) for bucket in buckets)
        if wait > 0:
            await trio.sleep(wait)

    async def sent(self, nbytes: int) -> None:
        """*nbytes* were sent: wait until every download bucket allows more."""
        if self.download:
            await self._pace(self.download, nbytes)

    async def received(self, nbytes: int) -> None:
        """*nbytes* were received: wait until every upload bucket allows more."""
        if self.upload:
            await self._pace(self.upload, nbytes)

    def piece_size(self, buckets: tuple[TokenBucket, ...], default: int) -> int:
        """Bytes to move at once under *buckets*: at most the smallest burst."""
        return max(1, min([default, *(bucket.burst for bucket in buckets)]))
