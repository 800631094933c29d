"""The sending side of a download: ``os.sendfile``, and writes that need no scheduler pass.

:class:`~trioftp.dtp.DTPHandler` sends a file with :func:`sendfile` where
the kernel can, and hands every other piece to :func:`write_at_once` before
Trio's ``send_all``; :func:`regular_file_size` tells whether a file was
truncated while it was sent.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import IO, Protocol

import trio

__all__ = ["Sender", "regular_file_size", "sendfile", "write_at_once"]

# Sockets are written by descriptor where a socket's descriptor is a file's.
_BY_DESCRIPTOR = os.name == "posix"
# Errors of os.sendfile meaning "this file or socket can't be sent that way".
_NO_SENDFILE = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSOCK}
# os.sendfile runs without yielding while the socket keeps accepting data;
# give other tasks a turn after this many bytes.
_YIELD_EVERY = 4 << 20
# Bytes per os.sendfile call: the kernel may read that much from disk while
# the event loop waits, so keep it modest.
_SENDFILE_CHUNK = 1 << 20


class Sender(Protocol):
    """What :func:`sendfile` needs of its :class:`~trioftp.dtp.DTPHandler`."""

    transmitted: int

    @property
    def socket(self) -> trio.abc.Stream: ...

    def _progress(self) -> None: ...


async def write_at_once(stream: trio.abc.Stream, piece: memoryview) -> int:
    """Hand *piece* to a plain socket's buffer without waiting; return the bytes taken.

    A small file or listing usually fits in the socket buffer: written
    straight away it costs no scheduler pass (Trio's ``send_all`` always
    yields once). Anything but a plain socket takes nothing here.
    """
    if not _BY_DESCRIPTOR or type(stream) is not trio.SocketStream:
        return 0
    await trio.lowlevel.checkpoint_if_cancelled()  # ABOR still stops it at once
    try:
        return os.write(stream.socket.fileno(), piece)
    except BlockingIOError:
        return 0
    except (BrokenPipeError, ConnectionResetError) as exc:
        raise trio.BrokenResourceError(str(exc)) from exc
    except OSError as exc:
        if exc.errno == errno.EBADF:
            raise trio.ClosedResourceError("the data connection was closed") from exc
        raise trio.BrokenResourceError(str(exc)) from exc


async def sendfile(sender: Sender, file: IO[bytes], offset: int) -> tuple[int, bool]:
    """Send *file* with ``os.sendfile``: return the offset reached and True at
    the end of the file, or the offset to continue from with buffered sends
    and False if the kernel refuses sendfile."""
    assert isinstance(sender.socket, trio.SocketStream)
    sock = sender.socket.socket
    out_fd, in_fd = sock.fileno(), file.fileno()
    since_yield = 0
    while True:
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            sent = os.sendfile(out_fd, in_fd, offset, _SENDFILE_CHUNK)
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
            since_yield = 0
            continue
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise trio.BrokenResourceError(str(exc)) from exc
        except OSError as exc:
            if exc.errno in _NO_SENDFILE and sender.transmitted == 0:
                return offset, False
            raise
        if sent == 0:
            return offset, True
        offset += sent
        sender.transmitted += sent
        sender._progress()
        since_yield += sent
        if since_yield >= _YIELD_EVERY:
            since_yield = 0
            await trio.lowlevel.checkpoint()


def regular_file_size(file: IO[bytes]) -> int | None:
    """The size of an OS file being sent, or None for anything else (a pipe, a custom file)."""
    try:
        status = os.fstat(file.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return status.st_size if stat.S_ISREG(status.st_mode) else None
