"""File hashes: HASH (draft-bryan-ftpext-hash) and XCRC, XMD5, XSHA, XSHA1, XSHA256, XSHA512.

``HASH path`` answers ``213 <algorithm> <start>-<end> <hex> <path>`` for the
whole file in the algorithm OPTS HASH selected (the range is inclusive, as
in the draft). The X commands answer ``213 <hex>`` in their own algorithm,
for the whole file or for bytes ``start`` up to, not including, ``end``
(``XCRC path start end``, as ProFTPD's mod_digest reads them). Both need the
permission to read the file (``r``) and go through the session's
``check_path``.

Hashing runs in the session's runner in blocks of ``hash_block_size``
bytes while the control connection is read (see :mod:`..abortable`): ABOR
stops it (``426``, then ``226``), and so does the end of the session.
``hash_max_size`` bounds one request and ``hash_session_budget`` the
session's total (``556`` beyond either); hashes of unchanged files come from
the handler's ``hash_cache`` without reading anything.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from ...filesystems import FilesystemError
from ...protocol.replies import Reply, sanitize
from ..abortable import Aborted, run_abortable
from ..context import CommandContext
from ..digestcache import FileIdentity
from ..digests import HashCancelled, HashJob, hash_file, selected_algorithm
from ..errors import Refused, os_error_reply
from ..paths import perm_of

__all__ = ["HashCommands"]

_ABORTED = Reply.of(426, "Hashing aborted.")
_ABOR_DONE = Reply.of(226, "ABOR command successful.")


@attrs.frozen
class _Request:
    """One hash request: which bytes of which file, and how its problems are answered."""

    command: str
    #: The argument as the client sent it, without the range.
    argument: str
    start: int = 0
    #: One past the last byte; None: the end of the file.
    end: int | None = None
    #: The reply code for a path that is not a regular file (HASH: 553, per the draft).
    not_a_file: int = 550
    #: One number after the path: start or end? Refused, as mod_digest does.
    one_number: bool = False


class HashCommands:
    """The hash commands: each hashes a file the user may read, in the runner."""

    async def ftp_HASH(self: CommandContext, line: str) -> None:
        """Hash the whole file in the selected algorithm (``213 SHA-256 0-99 <hex> name``)."""
        algorithm = selected_algorithm(self.session_state.hash_algorithm, self.hash_algorithm)

        def answer(digest: str, start: int, end: int) -> str:
            last = max(end - 1, start)  # inclusive; an empty file is "0-0"
            return f"213 {algorithm} {start}-{last} {digest} {sanitize(line)}"

        await _hash(self, [_Request("HASH", line, not_a_file=553)], algorithm, answer)

    async def ftp_XCRC(self: CommandContext, line: str) -> None:
        """CRC-32 of a file or of ``start end`` (end excluded): ``213 <hex>``."""
        await _x_command(self, "XCRC", line, "CRC32")

    async def ftp_XMD5(self: CommandContext, line: str) -> None:
        """MD5 of a file or of ``start end`` (end excluded): ``213 <hex>``."""
        await _x_command(self, "XMD5", line, "MD5")

    async def ftp_XSHA(self: CommandContext, line: str) -> None:
        """SHA-1 (as XSHA1) of a file or of ``start end``: ``213 <hex>``."""
        await _x_command(self, "XSHA", line, "SHA-1")

    async def ftp_XSHA1(self: CommandContext, line: str) -> None:
        """SHA-1 of a file or of ``start end`` (end excluded): ``213 <hex>``."""
        await _x_command(self, "XSHA1", line, "SHA-1")

    async def ftp_XSHA256(self: CommandContext, line: str) -> None:
        """SHA-256 of a file or of ``start end`` (end excluded): ``213 <hex>``."""
        await _x_command(self, "XSHA256", line, "SHA-256")

    async def ftp_XSHA512(self: CommandContext, line: str) -> None:
        """SHA-512 of a file or of ``start end`` (end excluded): ``213 <hex>``."""
        await _x_command(self, "XSHA512", line, "SHA-512")


async def _x_command(session: CommandContext, command: str, line: str, algorithm: str) -> None:
    """Run one X command: ``path``, or ``path start end`` (a path may have spaces)."""
    requests = _x_requests(command, line)
    await _hash(session, requests, algorithm, lambda digest, start, end: f"213 {digest}")


def _x_requests(command: str, line: str) -> list[_Request]:
    """What *line* may mean, the likeliest first: a range after the path, or a path only.

    ``name 1 2`` is a range of ``name`` unless a file is named ``name 1 2``;
    one number after a path is refused (start or end? mod_digest refuses it
    too) unless a file has that whole name.
    """
    whole = _Request(command, line)
    words = line.rsplit(" ", 2)
    numbers = [word.isascii() and word.isdigit() for word in words[1:]]
    if len(words) == 3 and all(numbers) and words[0]:
        return [_Request(command, words[0], int(words[1]), int(words[2])), whole]
    if len(words) >= 2 and numbers[-1] and not (len(words) == 3 and numbers[0]):
        return [_Request(command, " ".join(words[:-1]), one_number=True), whole]
    return [whole]


async def _hash(
    session: CommandContext,
    candidates: list[_Request],
    algorithm: str,
    answer: Callable[[str, int, int], str],
) -> None:
    """Hash what the request asks (see :func:`_choose`) and reply.

    *answer* makes the success reply from the hex digest and the range
    hashed (end excluded); any problem gets its own reply.
    """
    fs, state = session.vfs, session.session_state
    cache = session.hash_cache
    job = HashJob(algorithm, block_size=max(1, session.hash_block_size))
    perm = perm_of(session, candidates[0].command)

    def work() -> tuple[str, int, int]:
        request, path = _choose(session, candidates)
        problem = session.check_path(path, perm)
        if problem is not None:
            raise Refused(problem)
        if not fs.isfile(path):
            if fs.isdir(path) or fs.lexists(path):
                raise Refused(
                    f"{request.not_a_file} {sanitize(request.argument)}: Not a regular file."
                )
            raise Refused(f"550 {sanitize(request.argument)}: No such file.")
        if request.one_number:
            raise Refused(f"501 {request.command} needs both a start and an end offset.")
        st = fs.stat(path)
        identity, size = FileIdentity.of(st), int(st.st_size)
        start, end = request.start, size if request.end is None else request.end
        if request.end is not None and (end > size or start >= end):
            raise Refused(
                f"501 Invalid range {start}-{end}: the file has {size} bytes "
                "and the start must be below the end."
            )
        whole = request.end is None and not start
        if whole and cache is not None:
            known = cache.lookup(path, identity, algorithm)
            if known is not None:
                return known, 0, size
        length = end - start
        if session.hash_max_size and length > session.hash_max_size:
            raise Refused(f"556 {sanitize(request.argument)}: Too large to hash here.")
        budget = session.hash_session_budget
        if budget and state.hashed_bytes + length > budget:
            raise Refused("556 Hashing limit of this session reached.")
        job.start, job.end = start, None if whole else end
        digest = hash_file(fs, path, job, size=size, identity=identity, cache=cache)
        return digest, start, end

    try:
        (digest, start, end), late_abort = await run_abortable(session, work, job.cancel)
    except Aborted:
        session.reply(_ABORTED)
        session.reply(_ABOR_DONE)
    except HashCancelled:  # the flag was set, yet no ABOR: the session is ending
        session.reply(_ABORTED)
    except Refused as refusal:
        session.respond(str(refusal))
    except (OSError, FilesystemError) as exc:
        session.respond(os_error_reply(exc))
    else:
        session.respond(answer(digest, start, end))
        if late_abort:  # the hash was done when ABOR came: nothing left to abort
            session.reply(_ABOR_DONE)
    finally:
        state.hashed_bytes += job.bytes_read


def _choose(session: CommandContext, candidates: list[_Request]) -> tuple[_Request, str]:
    """The whole argument if it names a file the user may see, else the first reading (blocking)."""
    fs = session.vfs
    if len(candidates) > 1:
        whole = candidates[-1]
        path = fs.ftp2fs(whole.argument)
        if session.check_path(path, "") is None and fs.isfile(path):
            return whole, path
    first = candidates[0]
    return first, fs.ftp2fs(first.argument)
