"""Log formats: pyftpdlib's line (the default), JSON lines, and ``xferlog``.

Choose one in code with :func:`configure_logging` (``FTPServer.serve_forever``
calls :func:`trioftp.log.config_logging` for the default line format when a
program configured nothing), or on the command line with ``--log-format``
and ``--log-file``. The formatters are ordinary :class:`logging.Formatter`
classes, so a program with its own logging configuration can use them on its
own handlers:

* :class:`JSONFormatter` writes one JSON object per record, with the stable
  keys of :meth:`~trioftp.auditevent.AuditEvent.as_dict` for audit lines
  (``time``, ``level``, ``pid``, ``event``, ``session``, ``remote``, ``user``,
  ``command``, ``path``, ``code``, ``reason``, ``bytes``, ``seconds``,
  ``rate``...) and ``event: "message"`` for every other line.
* :class:`XferlogFormatter` writes the classic wu-ftpd/vsftpd/ProFTPD
  ``xferlog`` line of each file transfer; :class:`TransfersOnly` keeps the
  other records away from its handler.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from .auditevent import event_of
from .log import LOG_FORMAT, logger

__all__ = [
    "LOG_FORMATS",
    "JSONFormatter",
    "TransfersOnly",
    "XferlogFormatter",
    "configure_logging",
]

#: The formats :func:`configure_logging` and ``--log-format`` accept.
LOG_FORMATS = ("line", "json", "xferlog")

#: The line format's timestamps.
_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


class JSONFormatter(logging.Formatter):
    """One JSON object per record; audit lines carry their event's fields.

    ``time`` is ISO 8601 in UTC with milliseconds; ``pid`` is the process
    (session numbers are unique within one process: pre-forked workers
    each count their own). A record with an exception gets its traceback
    under ``exception``.
    """

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, object] = {
            "time": _iso_utc(record.created),
            "level": record.levelname,
            "pid": record.process,
        }
        event = event_of(record)
        if event is not None:
            fields.update(event.as_dict())
        else:
            fields["event"] = "message"
        fields["message"] = record.getMessage()
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        # ASCII only: a name kept undecodable (surrogateescape) stays a valid escape.
        return json.dumps(fields)


def _iso_utc(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


class TransfersOnly(logging.Filter):
    """Lets through only the audit lines of file transfers (for ``xferlog``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        event = event_of(record)
        return event is not None and event.event == "transfer"


class XferlogFormatter(logging.Formatter):
    """The ``xferlog(5)`` line of a file transfer.

    Fields, separated by spaces: current-time (local, ``DDD MMM dd hh:mm:ss
    YYYY``), transfer-time (whole seconds, rounded), remote-host (the
    client's IP address), file-size (bytes moved), filename (absolute, as
    the client sees it; spaces and control characters become ``_``),
    transfer-type (``a``/``b``), special-action-flag (``_``), direction
    (``o``/``i``), access-mode (``a`` anonymous, ``r`` real), username,
    service-name (``ftp``), authentication-method (``0``),
    authenticated-user-id (``*``), completion-status (``c``/``i``).

    *localtime* turns a timestamp into the local time (tests give a fixed zone).
    """

    def __init__(self, localtime: Callable[[float], time.struct_time] = time.localtime) -> None:
        super().__init__()
        self._localtime = localtime

    def format(self, record: logging.LogRecord) -> str:
        event = event_of(record)
        if event is None or event.event != "transfer":
            return record.getMessage()
        host = event.remote.rpartition(":")[0].strip("[]")
        fields = (
            time.asctime(self._localtime(record.created)),
            str(round(event.seconds or 0.0)),
            host,
            str(event.bytes or 0),
            _xferlog_name(event.path or ""),
            "a" if event.transfer_type == "ascii" else "b",
            "_",
            "i" if event.direction == "in" else "o",
            "a" if event.anonymous else "r",
            _xferlog_name(event.user) or "*",
            "ftp",
            "0",
            "*",
            "c" if event.completed else "i",
        )
        return " ".join(fields)


def _xferlog_name(name: str) -> str:
    """*name* with spaces and control characters replaced by ``_``, as xferlog(5) asks."""
    return "".join("_" if c.isspace() or ord(c) < 32 or ord(c) == 127 else c for c in name)


def configure_logging(
    log_format: str = "line",
    log_file: str | Path | None = None,
    level: int = logging.INFO,
    *,
    stream: TextIO | None = None,
) -> list[logging.Handler]:
    """Send ``trioftp``'s log to stderr (or *stream*) or a file, in *log_format*.

    * ``"line"``: pyftpdlib's lines (``[I 2024-01-02 03:04:05] 127.0.0.1:5000-[user]
      MKD /dir 257``) to *log_file*, else to stderr;
    * ``"json"``: one JSON object per line (:class:`JSONFormatter`), to
      *log_file*, else to stderr;
    * ``"xferlog"``: one ``xferlog`` line per file transfer to *log_file*
      (required), and pyftpdlib's lines to stderr as usual.

    Returns the handlers added to the ``trioftp`` logger (a program may
    remove them again). Raises ValueError for an unknown format or an
    ``xferlog`` without a file, OSError if the file can't be opened.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"unknown log format {log_format!r} (expected one of {LOG_FORMATS})")
    if log_format == "xferlog" and log_file is None:
        raise ValueError("the xferlog format needs a log file")
    console = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handlers: list[logging.Handler] = []
    if log_format == "xferlog":
        assert log_file is not None
        transfers = _file_handler(log_file)
        transfers.setFormatter(XferlogFormatter())
        transfers.addFilter(TransfersOnly())
        handlers.append(transfers)
        console.setFormatter(logging.Formatter(LOG_FORMAT, datefmt=_DATE_FORMAT))
        handlers.append(console)
    else:
        target: logging.Handler = _file_handler(log_file) if log_file is not None else console
        if log_format == "json":
            target.setFormatter(JSONFormatter())
        else:
            target.setFormatter(logging.Formatter(LOG_FORMAT, datefmt=_DATE_FORMAT))
        handlers.append(target)
    for handler in handlers:
        logger.addHandler(handler)
    logger.setLevel(level)
    return handlers


def _file_handler(path: str | Path) -> logging.FileHandler:
    """Append to *path* in UTF-8, reopening it if logrotate moved it away.

    Undecodable names are written as escapes, never lost.
    """
    return logging.handlers.WatchedFileHandler(path, encoding="utf-8", errors="backslashreplace")
