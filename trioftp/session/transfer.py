"""Running one transfer: the data-channel task and the control loop meanwhile.

A transfer command (RETR, STOR, LIST, ...) prepares a :class:`Transfer`, then
calls :meth:`TransferRunner.run_transfer`, which

1. answers ``425`` at once if no PASV/EPSV/PORT/EPRT prepared a connection;
2. sends ``125``/``150``;
3. starts the data-channel task in the session's nursery: it makes the data
   connection, opens the file if the command deferred that, moves the bytes,
   closes everything, calls the user callbacks and reports a
   :class:`TransferResult` over a memory channel;
4. meanwhile keeps reading the control connection: ``ABOR`` cancels the
   task, ``STAT`` reports progress, anything else waits until the final
   reply is out, so pipelined commands are answered in order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sized
from typing import IO, TypeVar

import attrs
import trio

from ..dtp import DataStalled, DTPHandler
from ..filesystems import FilesystemError
from ..protocol.commands import split_command
from ..protocol.framing import LineTooLong
from ..protocol.replies import multiline_reply
from .base import HOOK_GRACE_PERIOD, logger, os_error_code, os_error_reply, os_error_text
from .control import ControlClosed
from .dataconn import DataConnectionCommands, NoDataConnection

__all__ = ["Refused", "Transfer", "TransferResult", "TransferRunner"]

T = TypeVar("T")

# Commands read during a transfer wait here; past this many, reading pauses.
_MAX_HELD_COMMANDS = 32
# A NOOP this many seconds into a transfer is a keep-alive, answered at once;
# one sooner was pipelined behind the transfer command and waits its turn.
_KEEPALIVE_NOOP_AFTER = 1.0


@attrs.define(eq=False)
class Transfer:
    """One transfer, as prepared by its command.

    *move* moves the bytes over the :class:`DTPHandler`. A file is either
    already open (*file*) or opened by *open_file* once the data connection
    exists, so a failed connection never truncates an existing file.
    *path* (an absolute filesystem path) is set for file transfers.
    """

    command: str
    move: Callable[[DTPHandler, IO[bytes] | None], Awaitable[None]]
    path: str | None = None
    receive: bool = False
    file: IO[bytes] | None = None
    open_file: Callable[[], IO[bytes]] | None = None
    #: Called (blocking) if the transfer never moved a byte (removes STOU's unused file).
    discard: Callable[[], None] | None = None


@attrs.frozen
class TransferResult:
    """The final reply of a transfer and whether all bytes were moved."""

    reply: str
    completed: bool


class Refused(Exception):
    """A check inside a thread hop failed; the argument is the reply to send."""


class TransferRunner(DataConnectionCommands):
    """Run transfers as data-channel tasks in the session's nursery."""

    _transfer_scope: trio.CancelScope | None = None
    _transfer_started = 0.0
    _abort_requested = False

    def refuse_transfer(self) -> bool:
        """Answer and return True if a transfer can't start now.

        ``425`` if no PASV/EPSV/PORT/EPRT prepared a connection (so a transfer
        never hangs); subclasses add their own refusals (FTPS: ``522`` when
        the data connection must be protected). Transfer commands ask before
        they open anything.
        """
        if self.has_data_endpoint():
            return False
        self.respond("425 Use PORT/EPRT or PASV/EPSV first.")
        return True

    async def run_transfer(self, transfer: Transfer, preliminary: str) -> None:
        """Run *transfer*, answering with *preliminary* (a ``150``) before it starts."""
        started = False
        try:
            if self.refuse_transfer():
                return
            if self.data_connection_ready():
                if transfer.command == "STOU":  # keep "FILE: name" (RFC 1123 4.1.2.9)
                    preliminary = "125" + preliminary[3:]
                else:
                    preliminary = "125 Data connection already open. Transfer starting."
            await self.reply_now(preliminary)
            send, receive = trio.open_memory_channel[TransferResult](1)
            scope = trio.CancelScope()
            self._transfer_scope = scope
            self._transfer_started = trio.current_time()
            self._abort_requested = False
            assert self._nursery is not None
            self._nursery.start_soon(self._data_channel_task, transfer, scope, send)
            started = True
        finally:
            if not started:
                with trio.CancelScope(shield=True):
                    await self._release(transfer, used=False)
        async with receive:
            result = await self._serve_control_until(receive)
        self._transfer_scope = None
        self.respond(result.reply)
        if self._abort_requested:
            self.respond("226 ABOR command successful.")

    async def _serve_control_until(
        self, results: trio.MemoryReceiveChannel[TransferResult]
    ) -> TransferResult:
        """Read control lines until the transfer reports its result."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read_during_transfer)
            result = await results.receive()
            nursery.cancel_scope.cancel()
        return result

    async def _read_during_transfer(self) -> None:
        """Answer ABOR and STAT at once; hold every other command for later.

        A keep-alive ``NOOP`` is answered at once too: clients send one during
        long transfers (FluentFTP; ftplib scripts from a transfer callback)
        and some wait for the reply. A NOOP pipelined right behind the
        transfer command, or behind a held command, keeps its place in line.

        A client that closes the control connection after QUIT still gets its
        transfer finished, as RFC 959 asks; one that just goes away (EOF
        without QUIT, or a reset) ends the session and the transfer with it.
        """
        held = self.held_commands
        quit_held = False
        try:
            while len(held) < _MAX_HELD_COMMANDS:
                line = await self._control.read_line()
                if line is None:
                    if not quit_held:
                        self.close()
                        return
                    break
                name = _command_name(line, self.encoding, self.unicode_errors)
                if name == "ABOR" and not self._abort_requested:
                    self.abort_transfer()
                elif name == "STAT" or (name == "NOOP" and self._keep_alive(held)):
                    if name == "STAT":
                        status = self.status_lines()
                        self.respond(
                            multiline_reply("211", "Transfer status:", status, "End of status.")
                        )
                    else:
                        await self.handle_line(line)  # ftp_NOOP, or a subclass's
                    with trio.CancelScope(shield=True):  # never half a reply (bounded by flush)
                        await self._control.flush()
                else:
                    quit_held = quit_held or name == "QUIT"
                    held.append(line)
        except ControlClosed:
            self.close()
            return
        await trio.sleep_forever()  # EOF, or pipelined too far ahead: wait for the result

    def _keep_alive(self, held: Sized) -> bool:
        """True for a NOOP sent well into the transfer with nothing held before it."""
        return not held and trio.current_time() - self._transfer_started >= _KEEPALIVE_NOOP_AFTER

    def transfer_running(self) -> bool:
        return self._transfer_scope is not None

    def abort_transfer(self) -> None:
        """Cancel the running transfer (``ABOR``): ``426`` then ``226``."""
        if self._transfer_scope is not None:
            self._abort_requested = True
            self._transfer_scope.cancel()

    def _check_or_refuse(self, path: str, perm: str) -> None:
        problem = self.check_path(path, perm)
        if problem is not None:
            raise Refused(problem)

    async def _refusable(self, work: Callable[[], T]) -> T | None:
        """Run *work* in a thread; on a refusal or filesystem error, reply and return None."""
        try:
            return await self.run_blocking(work)
        except Refused as refusal:
            self.respond(str(refusal))
        except (OSError, FilesystemError) as exc:
            self.respond(os_error_reply(exc))
        return None

    async def _data_channel_task(
        self,
        transfer: Transfer,
        scope: trio.CancelScope,
        results: trio.MemorySendChannel[TransferResult],
    ) -> None:
        """Make the data connection, move the bytes, clean up, report the result."""
        result: TransferResult | None = None
        started = trio.current_time()
        ending = True  # unless the transfer itself returns: the session is going
        try:
            with scope:
                result = await self._move(transfer)
            ending = False
        finally:
            dtp, self.data_channel = self.data_channel, None
            moved = dtp.get_transmitted_bytes() if dtp is not None else 0
            if result is None:  # ABOR, or the session is ending
                result = self._failure(transfer, moved, "426 Transfer aborted")
            with trio.CancelScope(shield=True):
                if dtp is not None:
                    await dtp.aclose()
                await self._release(transfer, used=result.completed or moved > 0)
            # The session may have ended meanwhile: then nobody listens.
            with results, contextlib.suppress(trio.BrokenResourceError):
                results.send_nowait(result)
            elapsed = trio.current_time() - started
            if not ending:
                await self._report(transfer, result.completed, elapsed, moved)
            else:  # the callbacks still run, for a bounded time
                with trio.CancelScope(shield=True) as hooks:
                    hooks.deadline = trio.current_time() + HOOK_GRACE_PERIOD
                    await self._report(transfer, result.completed, elapsed, moved)
                if hooks.cancelled_caught:
                    self.logerror(f"{transfer.command} callback cut off at the session's end")

    async def _move(self, transfer: Transfer) -> TransferResult:
        try:
            stream = await self.open_data_connection()
        except NoDataConnection as exc:
            self.log(f"{transfer.command}: {exc}", logfun=logger.info)
            return TransferResult(exc.reply, completed=False)
        dtp = self.data_channel = self.dtp_handler(stream, self)
        try:
            if transfer.open_file is not None:
                transfer.file = await self.run_blocking(transfer.open_file)
            await transfer.move(dtp, transfer.file)
        except DataStalled:
            return self._failure(transfer, dtp.transmitted, "426 Data connection timed out")
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return self._failure(transfer, dtp.transmitted, "426 Connection closed")
        except Refused as refusal:
            return TransferResult(str(refusal), completed=False)
        except (OSError, FilesystemError) as exc:
            code = os_error_code(exc, default=451 if dtp.transmitted else 550)
            return self._failure(transfer, dtp.transmitted, f"{code} {os_error_text(exc)}")
        return TransferResult("226 Transfer complete.", completed=True)

    def _failure(self, transfer: Transfer, transmitted: int, reason: str) -> TransferResult:
        """The reply for a transfer that stopped early; an upload says what it kept."""
        if not reason.endswith("aborted"):
            reason += "; transfer aborted"
        if transfer.receive and transfer.file is not None and (transmitted or not transfer.discard):
            reason += f", partial file kept ({transmitted} bytes received)."
        else:
            reason += "."
        return TransferResult(reason, completed=False)

    async def _release(self, transfer: Transfer, *, used: bool) -> None:
        """Close the transfer's file; drop STOU's file if the transfer never ran."""
        file, transfer.file = transfer.file, None
        try:
            if file is not None:
                await self.run_blocking(file.close)
            if not used and transfer.discard is not None:
                await self.run_blocking(transfer.discard)
        except (OSError, FilesystemError) as exc:
            self.logerror(f"cleaning up after {transfer.command} failed: {os_error_text(exc)}")
        except Exception:  # a custom file object's own error must not end the session
            logger.exception("%s cleaning up after %s failed", self._prefix(), transfer.command)

    async def _report(
        self, transfer: Transfer, completed: bool, elapsed: float, moved: int
    ) -> None:
        if transfer.path is None:
            return
        self.log_transfer(
            transfer.command, transfer.path, transfer.receive, completed, elapsed, moved
        )
        if transfer.receive:
            hook = self.on_file_received if completed else self.on_incomplete_file_received
        else:
            hook = self.on_file_sent if completed else self.on_incomplete_file_sent
        await self.call_hook(hook, transfer.path)


def _command_name(line: bytes | LineTooLong, encoding: str, errors: str) -> str | None:
    """Return ``"ABOR"``, ``"STAT"``, ``"QUIT"`` or ``"NOOP"`` if *line* is one of
    these argument-less commands, else None."""
    if isinstance(line, LineTooLong):
        return None
    try:
        name, arg = split_command(line.decode(encoding, errors))
    except UnicodeDecodeError:
        return None
    if name in ("ABOR", "STAT", "QUIT", "NOOP") and not arg:
        return name
    return None
