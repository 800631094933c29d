"""An atomic upload's transfer: the partial file renamed onto the target after the last byte.

:func:`atomically` turns a prepared upload :class:`~.transfers.Transfer`
(STOR, APPE, STOU) into one that writes through an
:class:`~.partials.AtomicUpload`: once the data connection reaches its end
the partial is closed and renamed onto the target, before the ``226`` and
before ``on_file_received``; whatever else ends the transfer (ABOR, a reset
or dropped connection, the data timeout, a failed write, the session's end)
keeps the received bytes as the user's resumable partial. The transfer's
path is the resumable partial's until the rename makes it the target's, so
``on_incomplete_file_received`` and the log name the partial file, never
the previous version of the target.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO, Protocol, TypeVar

import trio

from ..filesystems import FilesystemError
from .errors import os_error_text
from .partials import AtomicUpload
from .state import SessionState
from .transfers import DataMover, Transfer

__all__ = ["atomically", "expiry_cutoff"]

T = TypeVar("T")


class _Session(Protocol):
    async def run_blocking(self, function: Callable[..., T], *args: object) -> T: ...
    def logerror(self, msg: str) -> None: ...


class _Settings(Protocol):
    atomic_upload_expiry: float
    session_state: SessionState


def expiry_cutoff(session: _Settings, target: str, *, now: float) -> float | None:
    """The time before which a fresh upload to *target* expires partial files, if it should.

    A session looks at a directory at its first fresh upload there, and
    again once the expiry has passed since it last looked (None otherwise).
    """
    expiry = session.atomic_upload_expiry
    if not expiry:
        return None
    directory = os.path.dirname(target)
    if not session.session_state.expiry_check_due(directory, expiry, now):
        return None
    return now - expiry


def atomically(session: _Session, upload: AtomicUpload, transfer: Transfer) -> None:
    """Make *transfer* (an upload opened by ``upload.open``) finish through *upload*."""
    move = transfer.move
    transfer.path = upload.resumable

    async def move_then_rename(mover: DataMover, opened: IO[bytes] | None) -> None:
        assert opened is not None
        try:
            await move(mover, opened)
            await session.run_blocking(upload.commit, opened)
        except BaseException:
            with trio.CancelScope(shield=True):
                kept = await _keep(session, upload, opened, transfer.command)
            if not kept:  # the reply must not say a partial file was kept
                transfer.file = None
            raise
        transfer.path = upload.target

    transfer.move = move_then_rename


async def _keep(session: _Session, upload: AtomicUpload, file: IO[bytes], command: str) -> bool:
    """Keep a broken upload's bytes (True if any were); a failure is logged, not raised."""
    try:
        return await session.run_blocking(upload.keep, file) is not None
    except (OSError, FilesystemError) as exc:
        session.logerror(f"keeping the partial file of {command} failed: {os_error_text(exc)}")
        return False
