"""One upload at a time per file: the stock filesystem's advisory upload lock.

Without atomic uploads, an upload writes into its target in place. Two
uploads to the same name at once would each truncate and write the one
file, leaving bytes of both and a file that matches neither. So
:meth:`AbstractedFS.open_upload <trioftp.filesystems.AbstractedFS.open_upload>`
opens the target without truncating it, takes an exclusive ``flock`` lock on
it without waiting, and only then truncates: a second upload finds the lock
taken and is refused (:class:`~trioftp.exceptions.FileBusy`, ``450``) before
it changes a byte (:func:`upload_locked` lets the session refuse even
before its ``150``, in the common case). The lock lives as long as the file is open, and works
across processes (pre-forked workers, other programs that use ``flock``;
Linux maps it onto NFS locks). Refusing, rather than waiting as vsftpd's
``lock_upload_files`` does, keeps a pile of sessions from queueing behind a
slow upload; the client can try again.
"""

from __future__ import annotations

import errno
import os
import sys
import time

from trioftp.exceptions import FileBusy

if sys.platform != "win32":  # Windows has no flock: uploads are not locked there
    import fcntl

__all__ = ["BUSY_MESSAGE", "lock_upload", "upload_flags", "upload_locked"]

#: The reply text of an upload refused because another one holds its file.
BUSY_MESSAGE = "File busy: another upload to it is in progress"

# Upload modes and how to open them without truncating (the truncation
# waits until the lock is held).
_FLAGS = {
    "wb": os.O_WRONLY | os.O_CREAT,
    "ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "r+b": os.O_RDWR,
}
# A lock found taken is tried this many times, this many seconds apart.
_TRIES = 3
_RETRY_AFTER = 0.002
# flock errors meaning "this filesystem can't lock": the upload goes on unlocked.
_CANT_LOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS}


def upload_flags(mode: str) -> int:
    """The :func:`os.open` flags of an upload *mode* (``wb``, ``ab``, ``r+b``), no ``O_TRUNC``."""
    try:
        return _FLAGS[mode]
    except KeyError:
        raise ValueError(f"not an upload mode: {mode!r} (wb, ab or r+b)") from None


def lock_upload(fd: int) -> None:
    """Take the exclusive upload lock on *fd*; :class:`FileBusy` if another holds it."""
    if sys.platform == "win32":
        return
    for attempt in range(_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if attempt == _TRIES - 1:
                raise FileBusy(BUSY_MESSAGE) from None
            # Maybe another session's upload_locked() check, which holds the
            # lock for microseconds; an upload holds it for its whole length.
            time.sleep(_RETRY_AFTER)
        except OSError as exc:
            if exc.errno not in _CANT_LOCK:
                raise
            return
        else:
            return


def upload_locked(fd: int) -> bool:
    """Whether another holds the upload lock on *fd* now (taken and given back at once)."""
    if sys.platform == "win32":
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False  # a filesystem that can't lock: nothing holds it
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False
