"""The control connection while a transfer runs.

Each command's :class:`~trioftp.protocol.commands.DuringTransfer` rule says
whether it aborts the transfer, is answered at once or is held until the
transfer's final reply is out, so pipelined commands are answered in order.
"""

from __future__ import annotations

from typing import Protocol

import trio

from ..protocol.commands import COMMANDS, DuringTransfer, split_command
from ..protocol.framing import LineTooLong
from ..protocol.replies import multiline_reply
from .control import ControlChannel, ControlClosed, Line

__all__ = ["ControlContext", "RunningTransfer", "serve_control_during_transfer"]

# Commands read during a transfer wait here; past this many, reading pauses.
_MAX_HELD_COMMANDS = 32
# A NOOP this many seconds into a transfer is a keep-alive, answered at once;
# one sooner was pipelined behind the transfer command and waits its turn.
_KEEPALIVE_NOOP_AFTER = 1.0


class RunningTransfer(Protocol):
    """The transfer being served: ABOR cancels it (a second ABOR waits its turn)."""

    @property
    def abort_requested(self) -> bool: ...
    def abort(self) -> None: ...


class ControlContext(Protocol):
    """What serving the control connection during a transfer needs of the session."""

    encoding: str
    unicode_errors: str
    quit_answered_during_transfer: bool

    @property
    def control_channel(self) -> ControlChannel: ...

    def status_lines(self) -> list[str]: ...
    def respond(self, resp: str) -> None: ...
    async def handle_line(self, raw: Line) -> None: ...
    def close(self) -> None: ...


async def serve_control_during_transfer(
    ctx: ControlContext, transfer: RunningTransfer, started: float
) -> None:
    """Abort on ABOR, answer STAT, keep-alive NOOPs and QUIT, hold everything else.

    A keep-alive ``NOOP`` is answered at once: clients send one during
    long transfers (FluentFTP; ftplib scripts from a transfer callback)
    and some wait for the reply. A NOOP pipelined right behind the
    transfer command, or behind a held command, keeps its place in line.

    QUIT is answered at once (``quit_answered_during_transfer``) unless
    commands are held before it; the session ends after the transfer's
    reply. A client that closes (or resets) the control connection after QUIT
    still gets its transfer finished, as RFC 959 asks; one that just goes
    away without QUIT ends the session and the transfer with it.
    """
    control = ctx.control_channel
    quit_held = False
    try:
        while control.held < _MAX_HELD_COMMANDS:
            line = await control.read_line()
            if line is None:
                if not quit_held:
                    ctx.close()
                    return
                break
            rule = _rule(ctx, line)
            if rule is DuringTransfer.ABORTS and not transfer.abort_requested:
                transfer.abort()
            elif rule is DuringTransfer.ANSWERED or (
                rule is DuringTransfer.KEEP_ALIVE and _keep_alive(control, started)
            ):
                if rule is DuringTransfer.ANSWERED:
                    status = ctx.status_lines()
                    ctx.respond(
                        multiline_reply("211", "Transfer status:", status, "End of status.")
                    )
                else:
                    await ctx.handle_line(line)  # ftp_NOOP, or a subclass's
                with trio.CancelScope(shield=True):  # never half a reply (bounded by flush)
                    await control.flush()
            elif not quit_held and _quits_now(ctx, rule):
                quit_held = True  # 221 now, the session ends after the transfer's reply
                await ctx.handle_line(line)
                with trio.CancelScope(shield=True):
                    await control.flush()
            else:
                quit_held = quit_held or rule is DuringTransfer.ENDS_SESSION
                control.hold(line)
    except ControlClosed:
        if not quit_held:
            ctx.close()
            return
    await trio.sleep_forever()  # EOF, or pipelined too far ahead: wait for the result


def _rule(ctx: ControlContext, line: Line) -> DuringTransfer:
    """What *line* does during a transfer (only argument-less commands act at once)."""
    if isinstance(line, LineTooLong):
        return DuringTransfer.HELD
    try:
        name, arg = split_command(line.decode(ctx.encoding, ctx.unicode_errors))
    except UnicodeDecodeError:
        return DuringTransfer.HELD
    spec = COMMANDS.get(name)
    return DuringTransfer.HELD if spec is None or arg else spec.during_transfer


def _quits_now(ctx: ControlContext, rule: DuringTransfer) -> bool:
    """True for a QUIT answered at once: nothing held before it, and the setting says so."""
    return (
        rule is DuringTransfer.ENDS_SESSION
        and ctx.quit_answered_during_transfer
        and not ctx.control_channel.held
    )


def _keep_alive(control: ControlChannel, started: float) -> bool:
    """True for a NOOP sent well into the transfer with nothing held before it."""
    return not control.held and trio.current_time() - started >= _KEEPALIVE_NOOP_AFTER
