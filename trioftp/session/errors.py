"""Turning failures of blocking work into replies.

Filesystem and authorizer code runs in the session's runner; what it raises
becomes the command's reply here, in one place: a :class:`Refused` check
carries its own reply, a filesystem error becomes ``550`` (or ``451``,
``452``, ``552`` by its errno; ``450`` for a file another upload holds),
never showing a server path.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Protocol, TypeVar

from ..exceptions import FileBusy
from ..filesystems import FilesystemError
from ..protocol.replies import sanitize

__all__ = [
    "LOCAL_ERROR",
    "Refused",
    "os_error_code",
    "os_error_reply",
    "os_error_text",
    "run_or_reply",
]

T = TypeVar("T")

# The errno values that mean "the disk is full" (452) or "over quota" (552).
_NO_SPACE = {errno.ENOSPC}
_OVER_QUOTA = {errno.EDQUOT, errno.EFBIG}


# The reply to a command whose code failed in a way no errno describes.
LOCAL_ERROR = "451 Requested action aborted: local error in processing."


class Refused(Exception):
    """A check inside blocking work failed; the argument is the reply to send."""


def os_error_text(exc: OSError | FilesystemError) -> str:
    """Describe a filesystem error for a reply, never showing a server path."""
    if isinstance(exc, FilesystemError):
        return sanitize(str(exc)).rstrip(".")
    if exc.errno is not None:
        return os.strerror(exc.errno)
    return exc.strerror or "Operation failed"


def os_error_code(exc: OSError | FilesystemError, default: int = 550) -> int:
    """Choose the reply code for a filesystem error."""
    if isinstance(exc, FileBusy):
        return 450
    if isinstance(exc, OSError):
        if exc.errno in _NO_SPACE:
            return 452
        if exc.errno in _OVER_QUOTA:
            return 552
        if exc.errno == errno.EIO:
            return 451
    return default


def os_error_reply(exc: OSError | FilesystemError) -> str:
    """The whole reply for a failed filesystem operation."""
    return f"{os_error_code(exc)} {os_error_text(exc)}."


class _Replier(Protocol):
    def respond(self, resp: str) -> None: ...

    async def run_blocking(self, function: Callable[..., T], *args: object) -> T: ...


async def run_or_reply(session: _Replier, work: Callable[[], T]) -> T | None:
    """Run *work* in the session's runner; on a refusal or filesystem error, reply.

    Returns *work*'s result, or None once the failure has been answered.
    """
    try:
        return await session.run_blocking(work)
    except Refused as refusal:
        session.respond(str(refusal))
    except (OSError, FilesystemError) as exc:
        session.respond(os_error_reply(exc))
    return None
