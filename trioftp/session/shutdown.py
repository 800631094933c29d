"""A session ended by its server (``close_all``, a signal): a mixin of the session.

The server asks each session to :meth:`~ServerShutdown.shut_down`: a
transfer in flight ends first, then the client gets ``421`` and the
connection closes (see :mod:`trioftp.servers`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from ..log import logger
from ..protocol.replies import Reply
from .control import ControlChannel, ControlClosed
from .transfers import Transfers

__all__ = ["ServerShutdown"]


class ServerShutdown:
    """``shut_down()``, and the last replies of a session."""

    _closing: bool
    _transfers: Transfers | None
    _nursery: trio.Nursery | None
    control_channel: ControlChannel

    if TYPE_CHECKING:

        def reply(self, reply: Reply, logfun: Callable[[str], None] = ...) -> None: ...

    #: The last reply, sent when the server ends the session (``shut_down``).
    _farewell: Reply | None = None

    def shut_down(self, reason: str = "Server is shutting down.") -> None:
        """End the session because the server stops; call it in the session's loop.

        A transfer in flight ends with ``426`` (its file closed,
        ``on_incomplete_file_*`` called), the command being run is cancelled,
        then the client gets ``421 <reason>`` and the connection closes.
        """
        if self._farewell is not None:
            return
        self._farewell = Reply.of(421, reason)
        self._closing = True
        transfers = self._transfers
        if transfers is not None and transfers.running:
            transfers.interrupt()  # the command loop sends the 426, then ends
        elif self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    async def _say_farewell(self, reply: Reply) -> None:
        self.reply(reply, logfun=logger.info)
        await self._flush_last()

    async def _flush_last(self) -> None:
        """Send the queued replies, the last ones of the session (5 s at most)."""
        with trio.move_on_after(5), contextlib.suppress(ControlClosed):
            await self.control_channel.flush()
