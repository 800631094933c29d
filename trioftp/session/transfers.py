"""Running one transfer: the data-channel task, and the control connection meanwhile.

A transfer command (RETR, STOR, LIST, ...) prepares a :class:`Transfer` and
hands it to :meth:`Transfers.run`, which

1. answers ``425`` at once if no PASV/EPSV/PORT/EPRT prepared a connection;
2. sends ``125``/``150``;
3. starts the data-channel task in the session's nursery: it makes the data
   connection, opens the file if the command deferred that, moves the bytes
   through the handler's ``dtp_handler``, closes everything and hands its
   :class:`TransferResult` to the command's task; the session's events then
   log the transfer and call ``on_file_*``;
4. meanwhile keeps reading the control connection in the command's task
   (:mod:`.duringtransfer`), until the data-channel task ends that.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import IO, Protocol, TypeVar

import attrs
import trio

from ..filesystems import AbstractedFS, FilesystemError
from ..protocol.replies import Reply
from ..tls.eof import UncleanEndOfStream
from .dataconn import DataChannel, NoDataConnection
from .duringtransfer import ControlContext, serve_control_during_transfer
from .errors import Refused, os_error_code, os_error_text
from .events import HOOK_GRACE_PERIOD, EventSource, SessionEvents, TransferRecord

__all__ = ["DataMover", "DataStalled", "Transfer", "TransferResult", "Transfers"]

T = TypeVar("T")

_ABORTED = "Transfer aborted"
_PRELIMINARY = Reply.of(150, "File status okay. About to open data connection.")
_ALREADY_OPEN = Reply.of(125, "Data connection already open. Transfer starting.")


class DataStalled(Exception):
    """No byte moved on the data connection for the data timeout."""


class DataMover(Protocol):
    """What moves a transfer's bytes: the handler's ``dtp_handler`` (see :mod:`trioftp.dtp`)."""

    def get_transmitted_bytes(self) -> int: ...

    async def send_file(self, file: IO[bytes], *, offset: int = 0, ascii: bool = False) -> None:
        """Send *file* from *offset* to its end."""
        ...

    async def receive_file(self, file: IO[bytes], *, ascii: bool = False) -> None:
        """Write everything received until EOF into *file*."""
        ...

    async def send_chunks(self, next_chunk: Callable[[], Awaitable[bytes]]) -> None:
        """Send what *next_chunk* returns until it returns ``b""``."""
        ...

    async def aclose(self) -> None: ...


@attrs.define(eq=False)
class Transfer:
    """One transfer, as prepared by its command.

    *move* moves the bytes over the data mover. A file is either already open
    (*file*) or opened by *open_file* once the data connection exists, so a
    failed connection never truncates an existing file. *path* (an absolute
    filesystem path) is set for file transfers.
    """

    command: str
    move: Callable[[DataMover, IO[bytes] | None], Awaitable[None]]
    path: str | None = None
    receive: bool = False
    file: IO[bytes] | None = None
    open_file: Callable[[], IO[bytes]] | None = None
    #: Called (blocking) if the transfer never moved a byte (removes STOU's unused file).
    discard: Callable[[], None] | None = None
    #: The preliminary reply, and the one used when the client is already connected.
    preliminary: Reply = _PRELIMINARY
    already_open: Reply = _ALREADY_OPEN


@attrs.frozen
class TransferResult:
    """The final reply of a transfer and whether all bytes were moved."""

    reply: Reply
    completed: bool
    #: Why the transfer stopped early (for the log), None when completed.
    reason: str | None = None
    #: An upload stopped early with its file open: the bytes received (the
    #: reply says whether they were kept once the filesystem closed the file).
    received: int | None = None


class TransferContext(ControlContext, EventSource, Protocol):
    """What a transfer needs of its session (its events' source, and more)."""

    @property
    def data_connections(self) -> DataChannel: ...
    @property
    def session_events(self) -> SessionEvents: ...
    @property
    def nursery(self) -> trio.Nursery: ...
    @property
    def fs(self) -> AbstractedFS | None: ...

    def new_data_mover(self, stream: trio.abc.Stream) -> DataMover: ...
    def transfer_refusal(self) -> str | None: ...
    def reply(self, reply: Reply) -> None: ...
    async def reply_now(self, reply: Reply | str) -> None: ...
    async def run_blocking(self, function: Callable[..., T], *args: object) -> T: ...
    def log(self, msg: str) -> None: ...
    def logerror(self, msg: str) -> None: ...
    def log_exception(self, msg: str) -> None: ...


class Transfers:
    """The session's transfers: at most one at a time, run as a data-channel task."""

    __slots__ = (
        "_abort_requested",
        "_ctx",
        "_scope",
        "_started",
        "bytes_received",
        "bytes_sent",
        "done",
        "files_done",
        "mover",
    )

    def __init__(self, ctx: TransferContext) -> None:
        self._ctx = ctx
        self._scope: trio.CancelScope | None = None
        self._started = 0.0
        self._abort_requested = False
        #: The data mover of the transfer in progress (``FTPHandler.data_channel``).
        self.mover: DataMover | None = None
        #: Transfers finished, and the bytes they moved each way.
        self.done = self.bytes_received = self.bytes_sent = 0
        #: File transfers (not listings) finished.
        self.files_done = 0

    @property
    def running(self) -> bool:
        """True while a transfer command is being served."""
        return self._scope is not None

    def refuse(self) -> bool:
        """Answer and return True if a transfer can't start now.

        ``425`` if no PASV/EPSV/PORT/EPRT prepared a connection (so a transfer
        never hangs); FTPS answers ``522`` when data must be protected.
        Transfer commands ask once their file and REST marker passed their
        checks (a RETR closes the file it opened when refused).
        """
        ctx = self._ctx
        refusal = ctx.transfer_refusal()
        if refusal is None and ctx.data_connections.endpoint is None:
            refusal = "425 Use PORT/EPRT or PASV/EPSV first."
        if refusal is not None:
            ctx.respond(refusal)
        return refusal is not None

    @property
    def abort_requested(self) -> bool:
        """True once ``ABOR`` cancelled the running transfer."""
        return self._abort_requested

    def abort(self) -> None:
        """Cancel the running transfer (``ABOR``): ``426`` then ``226``."""
        if self._scope is not None:
            self._abort_requested = True
            self._scope.cancel()

    def interrupt(self) -> None:
        """Cancel the running transfer because the session ends: ``426``, no ``226``.

        The transfer ends as a cut-short one does: its file is closed and
        ``on_incomplete_file_*`` is called.
        """
        if self._scope is not None:
            self._scope.cancel()

    async def run(self, transfer: Transfer) -> None:
        """Run *transfer*: the preliminary reply, the data task, the final reply."""
        ctx = self._ctx
        started = False
        try:
            if self.refuse():
                return
            ready = ctx.data_connections.ready()
            await ctx.reply_now(transfer.already_open if ready else transfer.preliminary)
            scope = self._scope = trio.CancelScope()
            self._started = trio.current_time()
            self._abort_requested = False
            ctx.session_events.transfer_started(transfer.command, transfer.receive)
            ending = _Ending()
            ctx.nursery.start_soon(self._data_channel_task, transfer, scope, ending)
            started = True
        finally:
            if not started:
                with trio.CancelScope(shield=True):
                    await self._release(transfer, used=False)
        result = await self._serve_control_until(ending)
        self._scope = None
        ctx.reply(result.reply)
        if self._abort_requested:
            ctx.reply(Reply.of(226, "ABOR command successful."))

    # --- the control connection meanwhile

    async def _serve_control_until(self, ending: _Ending) -> TransferResult:
        """Read control lines until the transfer reports its result.

        The data-channel task ends the reading by cancelling *ending*'s
        scope once it has set the result: no reader task, no channel.
        """
        with ending.scope:
            await serve_control_during_transfer(self._ctx, self, self._started)
            await trio.sleep_forever()  # the session ends: its end cancels this
        assert ending.result is not None
        return ending.result

    # --- the data-channel task

    async def _data_channel_task(
        self,
        transfer: Transfer,
        scope: trio.CancelScope,
        end: _Ending,
    ) -> None:
        """Make the data connection, move the bytes, clean up, report the result."""
        ctx = self._ctx
        result: TransferResult | None = None
        started = trio.current_time()
        ending = True  # unless the transfer itself returns: the session is going
        try:
            with scope:
                result = await self._move(transfer)
            ending = False
        finally:
            mover, self.mover = self.mover, None
            moved = mover.get_transmitted_bytes() if mover is not None else 0
            if result is None:  # ABOR, or the session is ending
                result = self._failure(transfer, moved, 426, _ABORTED)
            with trio.CancelScope(shield=True):
                if mover is not None:
                    await mover.aclose()
                kept = await self._release(
                    transfer, used=result.completed or moved > 0, finished=result.completed
                )
            if result.received is not None:
                result = _with_upload_note(result, result.received, kept)
            # The session may have ended meanwhile: then nobody reads it.
            end.result = result
            end.scope.cancel()
            record = self._record(transfer, result, trio.current_time() - started, moved)
            self._count(record)
            if not ending:
                await ctx.session_events.transfer_done(ctx, record)
            else:  # the callbacks still run, for a bounded time
                with trio.CancelScope(shield=True) as hooks:
                    hooks.deadline = trio.current_time() + HOOK_GRACE_PERIOD
                    await ctx.session_events.transfer_done(ctx, record)
                if hooks.cancelled_caught:
                    ctx.logerror(f"{transfer.command} callback cut off at the session's end")

    async def _move(self, transfer: Transfer) -> TransferResult:
        ctx = self._ctx
        try:
            stream = await ctx.data_connections.open()
        except NoDataConnection as exc:
            if transfer.path is None:  # a file transfer's own line gives the reason
                ctx.log(f"{transfer.command}: {exc}")
            reply = Reply.parse(exc.reply)
            return TransferResult(reply, completed=False, reason=str(exc))
        mover = self.mover = ctx.new_data_mover(stream)
        try:
            if transfer.open_file is not None:
                transfer.file = await ctx.run_blocking(transfer.open_file)
            await transfer.move(mover, transfer.file)
            if transfer.receive and transfer.file is not None:
                # An upload is done once its file is closed (a store commits it
                # there): a failure to close must be the reply, not a log line.
                file, transfer.file = transfer.file, None
                await ctx.run_blocking(file.close)
        except DataStalled:
            moved = mover.get_transmitted_bytes()
            return self._failure(transfer, moved, 426, "Data connection timed out")
        except UncleanEndOfStream as exc:  # tls_strict_eof: the end may be a truncation
            return self._failure(transfer, mover.get_transmitted_bytes(), 426, str(exc))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return self._failure(transfer, mover.get_transmitted_bytes(), 426, "Connection closed")
        except Refused as refusal:
            reply = Reply.parse(str(refusal))
            return TransferResult(reply, completed=False, reason=reply.text)
        except (OSError, FilesystemError) as exc:
            moved = mover.get_transmitted_bytes()
            code = os_error_code(exc, default=451 if moved else 550)
            return self._failure(transfer, moved, code, os_error_text(exc))
        except Exception:  # a filesystem's or file object's own bug: this transfer fails
            ctx.log_exception(f"{transfer.command} failed")
            moved = mover.get_transmitted_bytes()
            return self._failure(transfer, moved, 451, "Local error in processing")
        return TransferResult(Reply.of(226, "Transfer complete."), completed=True)

    def _failure(self, transfer: Transfer, moved: int, code: int, reason: str) -> TransferResult:
        """The reply for a transfer that stopped early; an upload says what it kept."""
        cause = reason
        if reason != _ABORTED:
            reason += "; transfer aborted"
        if transfer.receive and transfer.file is not None and (moved or not transfer.discard):
            return TransferResult(
                Reply.of(code, reason), completed=False, reason=cause, received=moved
            )
        return TransferResult(Reply.of(code, reason + "."), completed=False, reason=cause)

    async def _release(self, transfer: Transfer, *, used: bool, finished: bool = False) -> bool:
        """Close the transfer's file; drop STOU's file if the transfer never ran.

        An upload that did not finish is closed by the filesystem's
        ``close_unfinished_upload``; returns False if that dropped its bytes.
        """
        ctx = self._ctx
        file, transfer.file = transfer.file, None
        kept = True
        try:
            if file is not None:
                if transfer.receive and not finished and ctx.fs is not None:
                    kept = await ctx.run_blocking(ctx.fs.close_unfinished_upload, file)
                else:
                    await ctx.run_blocking(file.close)
            if not used and kept and transfer.discard is not None:
                await ctx.run_blocking(transfer.discard)
        except (OSError, FilesystemError) as exc:
            ctx.logerror(f"cleaning up after {transfer.command} failed: {os_error_text(exc)}")
        except Exception:  # a custom file object's own error must not end the session
            ctx.log_exception(f"cleaning up after {transfer.command} failed")
        return kept

    def _count(self, record: TransferRecord) -> None:
        self.done += 1
        if record.path is not None:
            self.files_done += 1
        if record.receive:
            self.bytes_received += record.bytes
        else:
            self.bytes_sent += record.bytes

    def _record(
        self, transfer: Transfer, result: TransferResult, seconds: float, moved: int
    ) -> TransferRecord:
        fs, path = self._ctx.fs, transfer.path
        shown = fs.fs2ftp(path) if fs is not None and path is not None else path
        return TransferRecord(
            transfer.command, path, shown, transfer.receive, result.completed, moved, seconds,
            result.reply.code, result.reason,
        )  # fmt: skip


@attrs.define(eq=False)
class _Ending:
    """How a transfer's end reaches the control side: its result, then *scope* cancelled."""

    result: TransferResult | None = None
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)


def _with_upload_note(result: TransferResult, received: int, kept: bool) -> TransferResult:
    """*result*'s reply, saying what became of the bytes an unfinished upload received."""
    note = "partial file kept" if kept else "partial upload discarded"
    text = f"{result.reply.lines[0]}, {note} ({received} bytes received)."
    return TransferResult(Reply.of(result.reply.code, text), completed=False, reason=result.reason)
