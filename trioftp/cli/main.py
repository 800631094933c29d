"""Running the command: checking the options, making the handler and server, serving."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence

from .. import _clichecks as checks
from .. import systemd
from .._version import __version__
from ..authorizers import DummyAuthorizer
from ..handlers import FTPHandler, TLS_FTPHandler
from ..log import logger
from ..passwd import passwd_main
from ..servers import FTPServer, HandlerNotPortable
from ..servers.signals import sigterm_handler
from ..storage import StorageUnavailable, storage_from_url
from .files import hash_attributes, upload_attributes
from .logs import start_logging, start_metrics
from .parser import build_parser
from .servers import concurrency
from .sites import apply_site_options
from .users import apply_user_and_limit_options, check_user_options


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


def _make_handler(
    options: argparse.Namespace, warn_anonymous_write: bool = False
) -> type[FTPHandler]:
    directory = os.path.abspath(options.directory)
    perm = "elradfmwMT" if options.write else "elr"
    # With --users-file, users, homes and permissions all come from the file.
    authorizer = options.users_authorizer
    if authorizer is None:
        authorizer = DummyAuthorizer()
        if options.username:
            authorizer.add_user(options.username, options.password, directory, perm=perm)
        else:
            with warnings.catch_warnings():
                if not warn_anonymous_write:
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
        "encoding": options.encoding,
    }
    attributes.update(hash_attributes(options))
    attributes.update(upload_attributes(options))
    if options.storage:
        attributes["abstracted_fs"] = storage_from_url(
            options.storage, dict(options.storage_option)
        )
    base: type[FTPHandler] = FTPHandler
    if options.tls:
        base = TLS_FTPHandler
        attributes.update(_tls_attributes(options))
    if options.site_table is not None:
        attributes["sites"] = options.site_table
    if options.tls_strict_sni:
        attributes["tls_strict_sni"] = True
    return type("CommandLineFTPHandler", (base,), attributes)


def _check_options(parser: argparse.ArgumentParser, options: argparse.Namespace) -> None:
    """Refuse option combinations that would silently do something else (exit status 2)."""
    if options.password is not None and not options.username:
        parser.error("-P/--password needs -u/--username")


def _make_server(
    options: argparse.Namespace, handler: type[FTPHandler], server_class: type[FTPServer]
) -> FTPServer:
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
        return server_class(passed.socket, handler)
    address = (options.interface, options.port)
    try:
        return server_class(address, handler)
    except OSError as exc:
        raise checks.CannotStart(checks.listen_error(address, exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server; return the exit status.

    SIGTERM stops it as Ctrl-C does from the start, not only once it serves:
    an interrupt while it starts (making a certificate, printing its
    address) is the same clean stop, with status 0.
    """
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == ["passwd"]:
        return passwd_main(arguments[1:])
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        signal.signal(signal.SIGTERM, sigterm_handler())
    try:
        return _main(arguments)
    except KeyboardInterrupt:  # before serve_forever() took over
        logger.info("received interrupt signal")
        logger.info(">>> FTP server stopped <<<")
        return 0
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def check_options(
    parser: argparse.ArgumentParser, options: argparse.Namespace
) -> tuple[type[FTPServer], int | None]:
    """Check parsed options (``parser.error`` on a bad one); return server class and workers."""
    check_user_options(parser, options)
    if options.username and options.password is None:
        parser.error("-u/--username needs -P/--password")
    _check_options(parser, options)
    if not os.path.isdir(options.directory):
        parser.error(f"no such directory: {options.directory!r}")
    options.tls = options.tls or options.tls_implicit or options.certfile is not None
    apply_site_options(parser, options)
    if options.keyfile is not None and options.certfile is None:
        parser.error("--keyfile needs --certfile")
    for path in (options.certfile, options.keyfile):
        if path is not None and not os.path.isfile(path):
            parser.error(f"no such file: {path!r}")
    return concurrency(parser, options)


def make_server(
    options: argparse.Namespace,
    server_class: type[FTPServer],
    warn_anonymous_write: bool = False,
) -> FTPServer:
    """The configured server of checked *options* (not serving yet).

    Raises :exc:`~trioftp._clichecks.CannotStart`, :exc:`HandlerNotPortable`
    or :exc:`StorageUnavailable` when it can't be made.
    """
    if not options.storage:
        checks.check_directory(os.path.abspath(options.directory))
    handler = _make_handler(options, warn_anonymous_write)
    server = _make_server(options, handler, server_class)
    server.max_cons = options.max_cons
    server.max_cons_per_ip = options.max_cons_per_ip
    apply_user_and_limit_options(server, options)
    server.proxy_protocol_from = options.proxy_protocol_from
    return server


def _main(arguments: list[str]) -> int:
    parser = build_parser()
    options = parser.parse_args(arguments)
    server_class, workers = check_options(parser, options)
    start_logging(options, parser)
    try:
        server = make_server(options, server_class)
    except checks.CannotStart as exc:
        print(f"trioftp: {exc}", file=sys.stderr)
        return 1
    except HandlerNotPortable as exc:
        print(f"trioftp: --concurrency {options.concurrency}: {exc}", file=sys.stderr)
        return 1
    except StorageUnavailable as exc:
        print(f"trioftp: --storage: {exc}", file=sys.stderr)
        return 1
    host, port = server.address
    shown_host = f"[{host}]" if ":" in host else host
    who = f"user {options.username!r}" if options.username else "anonymous users"
    if options.users_file is not None:
        who = f"the users of {options.users_file}"
    mode = "read-write" if options.write else "read-only"
    scheme = "ftps" if options.tls_implicit else "ftp"
    tls = " (FTPS: AUTH TLS)" if options.tls and not options.tls_implicit else ""
    print(
        f"trioftp {__version__}: serving {options.storage or os.path.abspath(options.directory)} "
        f"({mode}) to {who} at {scheme}://{shown_host}:{port}/{tls} - Ctrl-C to stop",
        flush=True,
    )
    if getattr(options, "tls_note", None):
        print(options.tls_note, flush=True)
    for site in options.site_table or ():
        print(f"site {', '.join(site.names)}", flush=True)
    try:
        metrics = start_metrics(options, server)
    except (ImportError, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"trioftp: can't serve metrics on {options.metrics[0]}: {reason}", file=sys.stderr)
        server.socket.close()
        return 1
    try:
        # SIGTERM and Ctrl-C stop it cleanly; systemd hears READY=1 and STOPPING=1.
        server.serve_forever(handle_exit=True, worker_processes=workers)
    finally:
        if metrics is not None:
            metrics.close()
    return 0
