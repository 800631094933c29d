"""The ``trioftp`` command's parser: the core options, then each group's."""

from __future__ import annotations

import argparse
import codecs
import os

from .. import _clichecks as checks
from .._version import __version__
from ..handlers import FTPHandler
from ..servers import FTPServer
from .files import add_hash_options, add_storage_options, add_upload_options
from .logs import add_logging_options
from .servers import add_concurrency_options, add_proxy_protocol_options
from .sites import add_site_options
from .users import add_user_and_limit_options

DEFAULT_PORT = 2121


def _port_range(value: str) -> list[int]:
    try:
        first, last = (int(part) for part in value.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid port range {value!r} (expected FROM-TO)"
        ) from None
    if not 1 <= first <= last <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port range {value!r}")
    return list(range(first, last + 1))


def _add_operations_options(parser: argparse.ArgumentParser) -> None:
    """Options for running as a service: where the self-signed certificate is kept."""
    parser.add_argument(
        "--cert-dir",
        metavar="DIR",
        help="where --tls keeps its self-signed certificate "
        "(default: $XDG_CONFIG_HOME/trioftp, else ~/.config/trioftp)",
    )


def _encoding(name: str) -> str:
    try:
        codecs.lookup(name)
    except LookupError:
        raise argparse.ArgumentTypeError(f"unknown encoding {name!r}") from None
    return name


def _add_encoding_option(parser: argparse.ArgumentParser) -> None:
    """pyftpdlib's ``--encoding``: the control connection's character set."""
    parser.add_argument(
        "--encoding",
        type=_encoding,
        default=FTPHandler.encoding,
        help=f"the encoding of commands, replies and listings (default: {FTPHandler.encoding})",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(
        prog="trioftp",
        description="Serve a directory over FTP. With no options: the current "
        "directory, read-only, to anonymous users, on 127.0.0.1:2121.",
    )
    add = parser.add_argument
    add(
        "-i",
        "--interface",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="address to listen on (default: 127.0.0.1; use 0.0.0.0 or :: for all)",
    )
    add(
        "-p",
        "--port",
        type=checks.port,
        default=DEFAULT_PORT,
        help=f"port, 1-65535; 0 picks a free one (default: {DEFAULT_PORT})",
    )
    add("-w", "--write", action="store_true", help="grant write access (default: read-only)")
    add(
        "-d",
        "--directory",
        default=os.getcwd(),
        metavar="PATH",
        help="directory to share (default: the current directory)",
    )
    add(
        "-n",
        "--nat-address",
        metavar="ADDRESS",
        help="address to announce in PASV replies (behind NAT)",
    )
    add(
        "-r",
        "--range",
        type=_port_range,
        metavar="FROM-TO",
        help="ports for passive data connections (e.g. 60000-60100)",
    )
    add("-D", "--debug", action="store_true", help="log every command and reply")
    add("-u", "--username", help="a user to log in as (disables anonymous login)")
    add("-P", "--password", help="that user's password")
    add(
        "--timeout",
        type=checks.seconds,
        default=FTPHandler.timeout,
        metavar="SECONDS",
        help=f"idle timeout, 0 for none (default: {FTPHandler.timeout} seconds)",
    )
    add("--banner", default=FTPHandler.banner, help="greeting text")
    add(
        "--permit-foreign-addresses",
        action="store_true",
        help="allow data connections with other hosts than the client (FXP)",
    )
    add(
        "--permit-privileged-ports", action="store_true", help="allow PORT/EPRT to ports below 1024"
    )
    add("--use-localtime", action="store_true", help="show local times in listings (default: UTC)")
    add("--disable-sendfile", action="store_true", help="do not use sendfile(2) for downloads")
    add(
        "--max-cons",
        type=checks.count,
        default=FTPServer.max_cons,
        help=f"most simultaneous sessions, 0 for no limit (default: {FTPServer.max_cons})",
    )
    add(
        "--max-cons-per-ip",
        type=checks.count,
        default=FTPServer.max_cons_per_ip,
        help="most simultaneous sessions per IP address (default: 0, no limit)",
    )
    add(
        "--max-login-attempts",
        type=checks.positive,
        default=FTPHandler.max_login_attempts,
        help=f"failed logins before disconnecting (default: {FTPHandler.max_login_attempts})",
    )
    tls = parser.add_argument_group("FTPS (FTP over TLS)")
    tls.add_argument(
        "--tls",
        action="store_true",
        help="offer explicit FTPS (AUTH TLS); without --certfile a self-signed "
        "certificate is made once and kept in --cert-dir",
    )
    tls.add_argument("--certfile", metavar="PATH", help="the certificate chain (PEM)")
    tls.add_argument(
        "--keyfile", metavar="PATH", help="the private key (PEM), if not in --certfile"
    )
    tls.add_argument(
        "--tls-control-required", action="store_true", help="refuse login before AUTH TLS"
    )
    tls.add_argument(
        "--tls-data-required", action="store_true", help="refuse transfers without PROT P"
    )
    tls.add_argument(
        "--tls-implicit",
        action="store_true",
        help="implicit FTPS: TLS from the first byte (implies --tls)",
    )
    add_site_options(parser)
    add_hash_options(parser)
    add_upload_options(parser)
    add_proxy_protocol_options(parser)
    add_storage_options(parser)
    add_concurrency_options(parser)
    add("-v", "--version", action="version", version=f"trioftp {__version__}")
    add_user_and_limit_options(parser)
    add_logging_options(parser)
    _add_operations_options(parser)
    _add_encoding_option(parser)
    return parser
