"""Dispatch: from a command line to its ``ftp_<CMD>`` method, by the command table.

Every rule comes from the command's :class:`~trioftp.protocol.commands.CommandSpec`
(through :func:`~trioftp.protocol.commands.spec_for`, so entries a program
added to ``proto_cmds`` in pyftpdlib's format work too): the argument rule,
the login, TLS first, the permission letter, how the argument becomes a path
and whether the REST marker survives. A built-in method that checks its own
path does so in the same runner call as its work; for any other method (a
subclass's override, a command a program added) the path is checked here
first, as pyftpdlib does.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, Protocol, TypeVar

from ..authorizers import Authorizer
from ..filesystems import AbstractedFS, FilesystemError
from ..log import logger
from ..protocol.commands import (
    HTTP_METHODS,
    NOT_IMPLEMENTED,
    CommandSpec,
    PathArgument,
    argument_error,
    spec_for,
    split_command,
)
from ..protocol.framing import LineTooLong
from ..protocol.replies import sanitize
from .commandhook import run_through_hook
from .commands import STOCK_METHODS
from .control import ControlChannel, ControlClosed, Line
from .errors import LOCAL_ERROR, os_error_reply
from .events import EventSource, SessionEvents
from .paths import ArgumentShapeError, command_path
from .state import SessionState
from .tls import TLSProtection

__all__ = ["handle_line"]

T = TypeVar("T")


class DispatchContext(EventSource, Protocol):
    """What dispatch needs of a session (it reports each command to the events)."""

    authorizer: Authorizer
    encoding: str
    unicode_errors: str
    session_state: SessionState
    control_channel: ControlChannel
    session_events: SessionEvents
    tls_protection: TLSProtection | None
    process_command_replaced: ClassVar[bool]
    _started_command: Awaitable[object] | None

    @property
    def file_transfers_done(self) -> int: ...

    @property
    def proto_cmds(self) -> Mapping[str, Mapping[str, object]]: ...
    @property
    def vfs(self) -> AbstractedFS: ...

    def respond(self, resp: str) -> None: ...
    def check_path(self, path: str, perm: str) -> str | None: ...
    async def run_blocking(self, function: Callable[..., T], *args: object) -> T: ...
    def log(self, msg: str) -> None: ...
    def log_exception(self, msg: str) -> None: ...
    def logline(self, msg: str) -> None: ...
    def close(self) -> None: ...
    def process_command(self, cmd: str, *args: Any, **kwargs: Any) -> object: ...


async def handle_line(session: DispatchContext, raw: Line) -> None:
    """Run one received command line, then report it to the session's events.

    The report names the argument, the filesystem path it became (if any),
    and whether the command ran a file transfer (then logged by the
    transfer itself).
    """
    name, spec, arg = _check_line(session, raw)
    path: str | None = None
    transfers_before = session.file_transfers_done
    if spec is not None:
        state = session.session_state
        try:
            if (spec.auth or (spec.auth_with_argument and arg)) and not state.authenticated:
                session.respond("530 Log in with USER and PASS first.")
            elif spec.needs_tls and _tls_first(session):
                session.respond("530 SSL/TLS required on the control channel (use AUTH TLS).")
            else:
                path = await _run_command(session, spec, arg)
        finally:
            if not spec.keeps_restart:
                state.restart_position = 0
    control = session.control_channel
    session.session_events.command_done(
        session, name, arg, path, control.last_code, control.last_text,
        transferred=session.file_transfers_done != transfers_before,
    )  # fmt: skip


async def _run_command(session: DispatchContext, spec: CommandSpec, arg: str) -> str | None:
    """Check the path, call the method; every failure of the call becomes a reply.

    The failure boundary of a command: a filesystem error becomes its reply
    (``550``, ``452``, ...); anything else that filesystem, authorizer or
    handler code raises (a bug in a subclass, a broken storage client) is
    logged once with its traceback and answered ``451``, and the session goes
    on. Cancellation, ``KeyboardInterrupt`` and a closed control connection
    are not failures of the command and pass through.

    Returns the filesystem path the argument became (None: no path).
    """
    path: str | None = None
    try:
        call = _command_call(session, spec, arg)
        if call is None:
            return None
        method, args, kwargs, unchecked, path = call
        if unchecked is None or await _path_allowed(session, unchecked, spec):
            if session.process_command_replaced:
                await run_through_hook(session, spec.name, *args, **kwargs)
            else:
                result = method(*args, **kwargs)  # a plain method or async def
                if result is not None and inspect.isawaitable(result):  # (None: no ABC check)
                    await result
    except (OSError, FilesystemError) as exc:
        session.respond(os_error_reply(exc))
    except ControlClosed:
        raise
    except Exception:
        session.log_exception(f"{spec.name} failed")
        session.respond(LOCAL_ERROR)
    return path


def _check_line(session: DispatchContext, raw: Line) -> tuple[str, CommandSpec | None, str]:
    """The command's name, spec and argument; no spec once a problem has been answered."""
    if isinstance(raw, LineTooLong):
        session.respond("500 Command too long.")
        return "", None, ""
    try:
        line = raw.decode(session.encoding, session.unicode_errors)
    except UnicodeDecodeError:
        session.respond("501 Can't decode command.")
        return "", None, ""
    name, arg = split_command(line)
    if logger.isEnabledFor(logging.DEBUG):
        session.logline("<- " + (f"{name} ******" if name == "PASS" else sanitize(line)))
    entry = session.proto_cmds.get(name)
    if entry is None:
        _unknown_command(session, name)
        return name, None, arg
    spec = spec_for(name, entry)
    problem = argument_error(spec.arg, arg)
    if problem is not None:
        session.respond(f"501 {problem}")
        return name, None, arg
    if "\x00" in arg:
        session.respond("501 Syntax error: NUL byte in argument.")
        return name, None, arg
    return name, spec, arg


def _tls_first(session: DispatchContext) -> bool:
    """True if the session must do ``AUTH TLS`` before this command (USER, PASS)."""
    tls = session.tls_protection
    return tls is not None and tls.control_required()


def _unknown_command(session: DispatchContext, name: str) -> None:
    """Answer a command the table does not have: ``502`` if FTP defines it, else ``500``.

    An HTTP request before login means a browser or a cross-protocol attack
    (ALPACA: FTP commands in a POST body): the connection is dropped before the
    body's lines can run, with or without FTPS.
    """
    if name in HTTP_METHODS and not session.session_state.authenticated:
        session.log(f"Dropped a {sanitize(name)} request: HTTP on the FTP port (ALPACA).")
        session.close()
    elif name in NOT_IMPLEMENTED:
        session.respond(f"502 Command {name!r} not implemented.")
    else:
        session.respond(f'500 Command "{sanitize(name)}" not understood.')


def _command_call(
    session: DispatchContext, spec: CommandSpec, arg: str
) -> tuple[Callable[..., object], tuple[str], dict[str, str], str | None, str | None] | None:
    """The ``ftp_<NAME>`` method and its arguments: a path argument becomes a real path.

    Then comes a path that must be checked before the call (None: no path,
    or a built-in method that checks its own), and the filesystem path the
    argument became (None: the argument is no path). None once a problem has
    been answered.
    """
    method: Callable[..., object] | None = getattr(session, spec.method, None)
    if method is None:
        session.respond(f"502 Command {spec.name!r} not implemented.")
        return None
    rule = spec.path
    if not (spec.perm and rule is not PathArgument.NONE and session.session_state.authenticated):
        return method, (arg,), {}, None, None
    if not arg and rule is PathArgument.IF_GIVEN:
        return method, (arg,), {}, None, None
    try:
        path, kwargs = command_path(session.vfs, spec, arg)
    except ArgumentShapeError as exc:
        session.respond(f"501 {exc}")
        return None
    stock = getattr(type(session), spec.method, None) is STOCK_METHODS.get(spec.method)
    unchecked = None if spec.checks_own_path and stock else path
    return method, (path,), kwargs, unchecked, path


async def _path_allowed(session: DispatchContext, path: str, spec: CommandSpec) -> bool:
    """Check *path* for an override or an added command first, as pyftpdlib does."""
    problem = await session.run_blocking(session.check_path, path, spec.perm or "")
    if problem is not None:
        session.respond(problem)
        return False
    return True
