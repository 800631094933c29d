"""Hashing uploads as they are written, so HASH of a file just uploaded reads nothing.

With ``hash_uploads`` on, :func:`hashing_upload` wraps the mover step of an
upload that writes a whole file from its first byte (STOR without REST,
STOU): the file becomes a :class:`~.digests.HashingWriter`, so each block
is hashed by the runner thread that writes it, in the session's selected
algorithm. When every byte is written (the transfer is about to answer
``226``) the digest goes into the handler's ``hash_cache`` with the file's
identity, taken from the open file: a HASH later finds it as long as the
file at that path is the same file, unchanged (see :mod:`.digestcache`).
APPE and REST uploads write part of a file only and are not hashed.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import IO, Protocol, TypeVar, cast

from ..log import logger
from .digestcache import DigestCache, FileIdentity
from .digests import HashingWriter, selected_algorithm
from .state import SessionState

__all__ = ["hashing_upload"]

T = TypeVar("T")
M = TypeVar("M")
#: An upload's mover step: moves the bytes of the data connection into the file.
Move = Callable[[M, IO[bytes] | None], Awaitable[None]]


class UploadHashingContext(Protocol):
    """What hashing an upload needs of a session."""

    hash_algorithm: str
    hash_uploads: bool
    hash_cache: DigestCache | None
    session_state: SessionState

    async def run_blocking(self, function: Callable[..., T], *args: object) -> T: ...


def hashing_upload(session: UploadHashingContext, path: str, move: Move[M]) -> Move[M]:
    """*move*, hashing what it writes and caching the digest once the upload completes.

    *path* is the file the upload is for (its final name). Returns *move*
    itself when ``hash_uploads`` is off or there is no cache.
    """
    cache = session.hash_cache
    if not session.hash_uploads or cache is None:
        return move
    algorithm = selected_algorithm(session.session_state.hash_algorithm, session.hash_algorithm)

    async def hashed_move(mover: M, opened: IO[bytes] | None) -> None:
        assert opened is not None
        writer = HashingWriter(opened, (algorithm,))
        await move(mover, cast(IO[bytes], writer))
        # Every byte is written and flushed: the identity is the final one.
        identity = await session.run_blocking(_identity, opened)
        if identity is not None:
            cache.store(path, identity, writer.digests())

    return hashed_move


def _identity(file: IO[bytes]) -> FileIdentity | None:
    """The written file's identity, from the open file itself (blocking).

    A file with no descriptor (a custom filesystem's) gives None: its path
    may still name the previous file (an upload to a temporary name), so
    nothing is cached.
    """
    try:
        return FileIdentity.of(os.fstat(file.fileno()))
    except (AttributeError, OSError, ValueError) as exc:
        logger.debug("upload not cached for HASH: %s", exc)
        return None
