"""Logging: every log line goes through the ``trioftp`` logger.

:func:`config_logging` gives a program that has not configured logging a
readable stderr log, as pyftpdlib does; ``FTPServer.serve_forever`` calls it
when nothing else is configured.
"""

from __future__ import annotations

import logging

__all__ = ["LOG_FORMAT", "config_logging", "logger"]

logger = logging.getLogger("trioftp")

LOG_FORMAT = "[%(levelname)1.1s %(asctime)s] %(message)s"


def config_logging(level: int = logging.INFO) -> None:
    """Send ``trioftp`` log records of *level* and above to stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(level)


def logging_configured() -> bool:
    """True if the program configured a handler for ``trioftp`` records."""
    return bool(logger.handlers or logging.getLogger().handlers)
