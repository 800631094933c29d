"""From a command's argument to a checked filesystem path.

:func:`command_path` turns the argument into the filesystem path the
command works on, following the command table's
:class:`~trioftp.protocol.commands.PathArgument` rule.
:func:`jail_and_permission` is the stock check behind the session's
overridable ``check_path``; :func:`path_command` runs that check and the
command's filesystem work in one runner call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar

from ..authorizers import Authorizer
from ..filesystems import AbstractedFS
from ..protocol.commands import CommandSpec, PathArgument, strip_ls_options
from ..protocol.replies import sanitize
from .errors import Refused, run_or_reply
from .partials import NO_SUCH_FILE, is_partial_name
from .state import SessionState

__all__ = [
    "check_or_refuse",
    "command_path",
    "jail_and_permission",
    "path_command",
    "perm_of",
]

T = TypeVar("T")


class PathChecker(Protocol):
    """What path checks need of a session."""

    authorizer: Authorizer
    atomic_uploads: bool

    @property
    def proto_cmds(self) -> Mapping[str, Mapping[str, object]]: ...

    session_state: SessionState

    @property
    def vfs(self) -> AbstractedFS: ...

    def respond(self, resp: str) -> None: ...
    def check_path(self, path: str, perm: str) -> str | None: ...
    async def run_blocking(self, function: Callable[..., T], *args: object) -> T: ...


class ArgumentShapeError(Exception):
    """The argument does not have the shape the command needs; the text is the ``501``."""


def command_path(fs: AbstractedFS, spec: CommandSpec, arg: str) -> tuple[str, dict[str, str]]:
    """The filesystem path *spec*'s command works on, and extra keyword arguments.

    Raises :class:`ArgumentShapeError` for ``WORD path`` commands without both.
    """
    kwargs: dict[str, str] = {}
    rule = spec.path
    if rule is PathArgument.OR_ROOT:
        arg = arg or "/"
    elif rule is PathArgument.PARENT:
        arg = ".."
    elif rule is PathArgument.AFTER_WORD:
        first, _, arg = arg.partition(" ")
        if not arg:
            raise ArgumentShapeError("Syntax error: command needs two arguments.")
        kwargs[spec.word or "word"] = first
    elif rule is PathArgument.AFTER_LS_OPTIONS:
        arg = strip_ls_options(arg)
    # ftp2fs only computes (joins and normalizes text): it may run on the event loop.
    return fs.ftp2fs(arg or fs.cwd), kwargs


def perm_of(session: PathChecker, name: str) -> str:
    """The permission letter the handler's table gives *name* ("" for none)."""
    spec = session.proto_cmds.get(name)
    perm = spec.get("perm") if spec is not None else None
    return str(perm) if perm else ""


def jail_and_permission(session: PathChecker, path: str, perm: str) -> str | None:
    """The stock check: *path* inside the user's jail, *perm* granted there (blocking).

    With atomic uploads on, a partial file's name is answered as a missing file.
    """
    fs = session.vfs
    if session.atomic_uploads and is_partial_name(path):
        return NO_SUCH_FILE
    if not fs.validpath(path):
        shown = sanitize(fs.fs2ftp(path))
        return f'550 "{shown}" points to a path outside the user\'s root directory.'
    if perm and not session.authorizer.has_perm(session.session_state.username, perm, path):
        return "550 Not enough privileges."
    return None


def check_or_refuse(session: PathChecker, path: str, perm: str) -> None:
    """The session's ``check_path``, raising :class:`~.errors.Refused` with the reply (blocking)."""
    problem = session.check_path(path, perm)
    if problem is not None:
        raise Refused(problem)


async def path_command(session: PathChecker, name: str, path: str, work: Callable[[], str]) -> None:
    """Check *path* for command *name*, then run *work*, in one runner call.

    *work* does the filesystem operation and returns the reply; a filesystem
    error becomes a ``550`` (or ``451``/``452``/``552``) reply.
    """
    perm = perm_of(session, name)

    def checked_work() -> str:
        return session.check_path(path, perm) or work()

    reply = await run_or_reply(session, checked_work)
    if reply is not None:
        session.respond(reply)
