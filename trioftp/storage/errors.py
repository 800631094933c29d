"""What fsspec stores raise, made into the errors the session answers."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator

from ..exceptions import FilesystemError

__all__ = ["oserror", "store_errors"]

# Exceptions without an errno, as fsspec backends raise them, and the errno to give them.
_ERRNO_OF: tuple[tuple[type[OSError], int], ...] = (
    (FileNotFoundError, errno.ENOENT),
    (FileExistsError, errno.EEXIST),
    (IsADirectoryError, errno.EISDIR),
    (NotADirectoryError, errno.ENOTDIR),
    (PermissionError, errno.EACCES),
)


def oserror(cls: type[OSError], code: int) -> OSError:
    """An *cls* error with the errno *code*, its standard text, and no path."""
    return cls(code, os.strerror(code))


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """Make what a store raises an :exc:`OSError` with an errno and no path in it.

    Backends raise ``FileNotFoundError(path)`` without an errno, and their
    own exceptions (a refused connection, a throttled request) besides; the
    session answers an ``OSError`` by its errno, so every failure gets a
    clear reply (``550``, or ``451`` for the store's own trouble).
    """
    try:
        yield
    except FilesystemError:
        raise
    except OSError as exc:
        if exc.errno is not None and exc.strerror:
            raise oserror(type(exc), exc.errno) from exc
        for cls, code in _ERRNO_OF:
            if isinstance(exc, cls):
                raise oserror(cls, code) from exc
        raise oserror(OSError, errno.EIO) from exc
    except (ValueError, NotImplementedError) as exc:
        raise oserror(OSError, errno.EOPNOTSUPP) from exc
    except Exception as exc:
        raise oserror(OSError, errno.EIO) from exc
