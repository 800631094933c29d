"""The ``trioftp`` command (also ``python -m trioftp``).

With no options it serves the current directory, read-only, to anonymous
users on 127.0.0.1 port 2121. The options are those of ``python -m pyftpdlib``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence

from . import _clichecks as checks
from . import systemd
from ._version import __version__
from .authorizers import DummyAuthorizer
from .handlers import FTPHandler, TLS_FTPHandler
from .log import config_logging, logger
from .servers import FTPServer
from .servers.signals import sigterm_handler

__all__ = ["build_parser", "main"]

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
    add("-v", "--version", action="version", version=f"trioftp {__version__}")
    _add_operations_options(parser)
    return parser


def _tls_attributes(options: argparse.Namespace) -> dict[str, object]:
    """Handler attributes for the TLS options (a self-signed certificate if none given)."""
    certfile, keyfile = options.certfile, options.keyfile
    if certfile is None:
        made = checks.self_signed(options.cert_dir)
        certfile, keyfile = str(made.certfile), str(made.keyfile)
        options.tls_note = (
            f"TLS: self-signed certificate {certfile}\nTLS: SHA-256 fingerprint {made.fingerprint}"
        )
    checks.check_certificate(certfile, keyfile)
    return {
        "certfile": certfile,
        "keyfile": keyfile,
        "tls_control_required": options.tls_control_required,
        "tls_data_required": options.tls_data_required,
        "tls_implicit": options.tls_implicit,
    }


def _make_handler(options: argparse.Namespace) -> type[FTPHandler]:
    directory = os.path.abspath(options.directory)
    perm = "elradfmwMT" if options.write else "elr"
    authorizer = DummyAuthorizer()
    if options.username:
        authorizer.add_user(options.username, options.password, directory, perm=perm)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            authorizer.add_anonymous(directory, perm=perm)
    attributes = {
        "authorizer": authorizer,
        "timeout": options.timeout,
        "banner": options.banner,
        "masquerade_address": options.nat_address,
        "passive_ports": options.range,
        "permit_foreign_addresses": options.permit_foreign_addresses,
        "permit_privileged_ports": options.permit_privileged_ports,
        "use_gmt_times": not options.use_localtime,
        "use_sendfile": FTPHandler.use_sendfile and not options.disable_sendfile,
        "max_login_attempts": options.max_login_attempts,
    }
    base: type[FTPHandler] = FTPHandler
    if options.tls:
        base = TLS_FTPHandler
        attributes.update(_tls_attributes(options))
    return type("CommandLineFTPHandler", (base,), attributes)


def _check_options(parser: argparse.ArgumentParser, options: argparse.Namespace) -> None:
    """Refuse option combinations that would silently do something else (exit status 2)."""
    if options.password is not None and not options.username:
        parser.error("-P/--password needs -u/--username")


def _make_server(options: argparse.Namespace, handler: type[FTPHandler]) -> FTPServer:
    """The server: on the socket systemd passed (socket activation), else on -i/-p."""
    try:
        inherited = systemd.listen_fds()
    except systemd.ActivationError as exc:
        raise checks.CannotStart(f"socket activation: {exc}") from None
    if len(inherited) > 1:
        names = ", ".join(f"{s.name} (fd {s.fd})" for s in inherited)
        raise checks.CannotStart(f"socket activation: one listening socket expected, got {names}")
    if inherited:
        passed = inherited[0]
        logger.info(
            "socket activation: serving socket %r (fd %d) from systemd; -i/-p not used",
            passed.name,
            passed.fd,
        )
        return FTPServer(passed.socket, handler)
    address = (options.interface, options.port)
    try:
        return FTPServer(address, handler)
    except OSError as exc:
        raise checks.CannotStart(checks.listen_error(address, exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server; return the exit status.

    SIGTERM stops it as Ctrl-C does from the start, not only once it serves:
    an interrupt while it starts (making a certificate, printing its
    address) is the same clean stop, with status 0.
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        signal.signal(signal.SIGTERM, sigterm_handler())
    try:
        return _main(argv)
    except KeyboardInterrupt:  # before serve_forever() took over
        logger.info("received interrupt signal")
        logger.info(">>> FTP server stopped <<<")
        return 0
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    options = parser.parse_args(argv)
    if options.username and options.password is None:
        parser.error("-u/--username needs -P/--password")
    _check_options(parser, options)
    if not os.path.isdir(options.directory):
        parser.error(f"no such directory: {options.directory!r}")
    options.tls = options.tls or options.tls_implicit or options.certfile is not None
    if options.keyfile is not None and options.certfile is None:
        parser.error("--keyfile needs --certfile")
    for path in (options.certfile, options.keyfile):
        if path is not None and not os.path.isfile(path):
            parser.error(f"no such file: {path!r}")
    config_logging(logging.DEBUG if options.debug else logging.INFO)
    try:
        checks.check_directory(os.path.abspath(options.directory))
        handler = _make_handler(options)
        server = _make_server(options, handler)
    except checks.CannotStart as exc:
        print(f"trioftp: {exc}", file=sys.stderr)
        return 1
    server.max_cons = options.max_cons
    server.max_cons_per_ip = options.max_cons_per_ip
    host, port = server.address
    shown_host = f"[{host}]" if ":" in host else host
    who = f"user {options.username!r}" if options.username else "anonymous users"
    mode = "read-write" if options.write else "read-only"
    scheme = "ftps" if options.tls_implicit else "ftp"
    tls = " (FTPS: AUTH TLS)" if options.tls and not options.tls_implicit else ""
    print(
        f"trioftp {__version__}: serving {os.path.abspath(options.directory)} "
        f"({mode}) to {who} at {scheme}://{shown_host}:{port}/{tls} - Ctrl-C to stop",
        flush=True,
    )
    if getattr(options, "tls_note", None):
        print(options.tls_note, flush=True)
    # SIGTERM and Ctrl-C stop it cleanly; systemd hears READY=1 and STOPPING=1.
    server.serve_forever(handle_exit=True)
    return 0
