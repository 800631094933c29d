"""The ``trioftp`` command's checks: option values, and what can stop it starting.

* argument types for argparse (:func:`port`, :func:`seconds`, :func:`count`,
  :func:`positive`), refusing values that would wrap or misbehave later;
* start-up checks that end the command with one line and exit status 1
  (:class:`CannotStart`): the shared directory, the certificate, where the
  self-signed certificate is kept, a port it may not listen on.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from .tls.contexts import TLSSettings, build_context

if TYPE_CHECKING:
    from .tls.certificates import SelfSigned

__all__ = [
    "CannotStart",
    "check_certificate",
    "check_directory",
    "count",
    "duration",
    "listen_error",
    "port",
    "positive",
    "seconds",
    "self_signed",
]


def port(value: str) -> int:
    """A TCP port, 1-65535; 0 asks the system for any free port."""
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {value!r} (expected 1-65535, or 0)")
    return port


def seconds(value: str) -> float:
    """A timeout in seconds, finite and not negative (0: none)."""
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {value!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise argparse.ArgumentTypeError(
            f"invalid number of seconds {value!r} (expected 0 or more; 0: no timeout)"
        )
    return seconds


def duration(value: str) -> float:
    """A length of time in seconds, finite and more than 0."""
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {value!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(
            f"invalid number of seconds {value!r} (expected more than 0)"
        )
    return seconds


def count(value: str, least: int = 0) -> int:
    """A whole number, *least* or more."""
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {value!r}") from None
    if count < least:
        raise argparse.ArgumentTypeError(f"invalid number {value!r} (expected {least} or more)")
    return count


def positive(value: str) -> int:
    """A whole number, 1 or more."""
    return count(value, least=1)


class CannotStart(Exception):
    """A one-line reason why the server can't start (exit status 1)."""


def self_signed(cert_dir: str | None) -> SelfSigned:
    """The stored self-signed certificate (made if needed) in *cert_dir* or the default."""
    # cryptography is imported only for a self-signed certificate.
    from .tls import certificates  # noqa: PLC0415

    directory = Path(cert_dir) if cert_dir else certificates.config_directory()
    try:
        if directory.exists() and not directory.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        return certificates.self_signed_certificate(directory)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CannotStart(
            f"can't keep the self-signed certificate in {directory}: {reason} "
            "(choose a writable directory with --cert-dir, or give --certfile)"
        ) from None


def check_certificate(certfile: str, keyfile: str | None) -> None:
    """Load the certificate and key once now, so that a bad file stops the start."""
    try:
        build_context(TLSSettings(certfile, keyfile))
    except OSError as exc:  # ssl.SSLError included
        # "[SSL] PEM lib (_ssl.c:3905)": the C source line says nothing to an operator.
        reason = re.sub(r" \(_ssl\.c:\d+\)$", "", str(exc.strerror or exc))
        raise CannotStart(f"can't use the certificate {certfile}: {reason}") from None


def check_directory(directory: str) -> None:
    """The shared directory must be listable, or every session would fail."""
    try:
        os.scandir(directory).close()
    except OSError as exc:
        raise CannotStart(f"can't read the directory {directory}: {exc.strerror}") from None


def listen_error(address: tuple[str, int], exc: OSError) -> str:
    """The one-line message for a socket that can't listen on *address*."""
    host, number = address
    message = f"can't listen on {host}:{number}: {exc.strerror}"
    if exc.errno == errno.EACCES and 0 < number < 1024:
        message += (
            f" (port {number} is privileged: run with CAP_NET_BIND_SERVICE, e.g. through "
            "the systemd unit in contrib/systemd, or use a port of 1024 or more)"
        )
    return message
