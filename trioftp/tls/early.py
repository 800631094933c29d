"""A TLS handshake run in the background, whose end another task awaits.

FTPS starts a data connection's handshake as soon as the connection is
accepted, before the transfer command arrives (a client may handshake right
after connecting); the transfer, after its ``150``, awaits the end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import trio

if TYPE_CHECKING:
    from .streams import TLSStream

__all__ = ["BackgroundHandshake"]


@attrs.define(eq=False)
class BackgroundHandshake:
    """The handshake of *tls* (over *transport*), run by :meth:`run` in a nursery."""

    #: The connection under the TLS stream, as it was accepted.
    transport: trio.abc.Stream
    tls: TLSStream
    #: Cancelled when the connection is dropped unused.
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    _done: trio.Event = attrs.Factory(trio.Event)
    _error: BaseException | None = None

    async def run(self) -> None:
        """Run the handshake; :meth:`wait` tells how it ended (never raises for that)."""
        with self.scope:
            try:
                await self.tls.do_handshake()
            except BaseException as exc:
                self._error = exc
                if not isinstance(exc, trio.BrokenResourceError | trio.ClosedResourceError):
                    raise
            finally:
                self._done.set()

    async def wait(self) -> None:
        """Wait for the handshake's end; BrokenResourceError (with its reason) if it failed."""
        await self._done.wait()
        error = self._error
        if isinstance(error, trio.BrokenResourceError):
            raise trio.BrokenResourceError(*error.args) from error.__cause__
        if error is not None:
            raise trio.BrokenResourceError("the data connection was closed") from None
