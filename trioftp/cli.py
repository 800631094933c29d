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
import warnings
from collections.abc import Sequence
from types import FrameType
from typing import NoReturn

from ._version import __version__
from .authorizers import DummyAuthorizer
from .handlers import FTPHandler, TLS_FTPHandler
from .log import config_logging
from .servers import FTPServer, HandlerNotPortable, MultiprocessFTPServer, ThreadedFTPServer
from .sitesfile import SitesFileError, load_sites
from .tls.certificates import self_signed_certificate

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
    add("-p", "--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
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
        type=float,
        default=FTPHandler.timeout,
        metavar="SECONDS",
        help=f"idle timeout (default: {FTPHandler.timeout} seconds)",
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
        type=int,
        default=FTPServer.max_cons,
        help=f"most simultaneous sessions (default: {FTPServer.max_cons})",
    )
    add(
        "--max-cons-per-ip",
        type=int,
        default=FTPServer.max_cons_per_ip,
        help="most simultaneous sessions per IP address (default: no limit)",
    )
    add(
        "--max-login-attempts",
        type=int,
        default=FTPHandler.max_login_attempts,
        help=f"failed logins before disconnecting (default: {FTPHandler.max_login_attempts})",
    )
    tls = parser.add_argument_group("FTPS (FTP over TLS)")
    tls.add_argument(
        "--tls",
        action="store_true",
        help="offer explicit FTPS (AUTH TLS); without --certfile a self-signed "
        "certificate is made once and kept in ~/.config/trioftp",
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
    _add_site_options(parser)
    _add_hash_options(parser)
    _add_concurrency_options(parser)
    add("-v", "--version", action="version", version=f"trioftp {__version__}")
    return parser


#: ``--concurrency`` (pyftpdlib's names): the server class of each model.
CONCURRENCY_MODELS: dict[str, type[FTPServer]] = {
    "async": FTPServer,
    "pre-fork": FTPServer,
    "multi-thread": ThreadedFTPServer,
    "multi-proc": MultiprocessFTPServer,
}


def _add_concurrency_options(parser: argparse.ArgumentParser) -> None:
    """The concurrency model options (docs/servers.md)."""
    models = parser.add_argument_group("concurrency (docs/servers.md)")
    models.add_argument(
        "--concurrency",
        choices=list(CONCURRENCY_MODELS),
        default="async",
        help="async (default): one process, one event loop; pre-fork: several such "
        "processes on one socket; multi-thread: a thread per session; multi-proc: a "
        "process per session",
    )
    models.add_argument(
        "--workers",
        type=int,
        metavar="N",
        default=0,
        help="worker processes for --concurrency pre-fork (default: one per CPU)",
    )


def _concurrency(
    parser: argparse.ArgumentParser, options: argparse.Namespace
) -> tuple[type[FTPServer], int | None]:
    """The server class and ``worker_processes`` chosen by --concurrency and --workers."""
    if options.workers and options.concurrency != "pre-fork":
        parser.error("--workers needs --concurrency pre-fork")
    if options.workers < 0:
        parser.error("--workers must be positive")
    workers = (options.workers or None) if options.concurrency == "pre-fork" else 1
    return CONCURRENCY_MODELS[options.concurrency], workers


def _add_site_options(parser: argparse.ArgumentParser) -> None:
    """The virtual-host options (docs/virtual-hosts.md)."""
    sites = parser.add_argument_group("virtual hosts (RFC 7151 HOST, TLS SNI)")
    sites.add_argument(
        "--sites",
        metavar="FILE",
        help="a TOML file of sites, each with its names, directory, user and "
        "certificate; clients choose one with HOST or by TLS server name (SNI)",
    )
    sites.add_argument(
        "--tls-strict-sni",
        action="store_true",
        help="refuse TLS handshakes that name no site (implies --tls)",
    )


def _apply_site_options(parser: argparse.ArgumentParser, options: argparse.Namespace) -> None:
    """Read --sites into ``options.site_table``; site certificates and strict SNI imply --tls."""
    options.site_table = None
    if options.sites is not None:
        try:
            options.site_table = load_sites(options.sites)
        except SitesFileError as exc:
            parser.error(str(exc))
    has_certificates = options.site_table is not None and any(
        site.certfile is not None for site in options.site_table
    )
    options.tls = options.tls or options.tls_strict_sni or has_certificates


def _add_hash_options(parser: argparse.ArgumentParser) -> None:
    """The file hash options (HASH, XCRC...: docs/hashes.md)."""
    hashes = parser.add_argument_group("file hashes (HASH, XCRC, XMD5, XSHA1, ...)")
    hashes.add_argument(
        "--hash-uploads",
        action="store_true",
        help="hash uploads as they are written, so HASH of a file just uploaded reads nothing",
    )
    hashes.add_argument(
        "--hash-max-size",
        type=int,
        metavar="BYTES",
        default=FTPHandler.hash_max_size,
        help=f"most bytes one hash command may read, 0 for no limit "
        f"(default: {FTPHandler.hash_max_size})",
    )


def _hash_attributes(options: argparse.Namespace) -> dict[str, object]:
    """Handler attributes for the file hash options."""
    return {"hash_uploads": options.hash_uploads, "hash_max_size": options.hash_max_size}


def _tls_attributes(options: argparse.Namespace) -> dict[str, object]:
    """Handler attributes for the TLS options (a self-signed certificate if none given)."""
    certfile, keyfile = options.certfile, options.keyfile
    if certfile is None:
        made = self_signed_certificate()
        certfile, keyfile = str(made.certfile), str(made.keyfile)
        options.tls_note = (
            f"TLS: self-signed certificate {certfile}\nTLS: SHA-256 fingerprint {made.fingerprint}"
        )
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
    attributes.update(_hash_attributes(options))
    base: type[FTPHandler] = FTPHandler
    if options.tls:
        base = TLS_FTPHandler
        attributes.update(_tls_attributes(options))
    if options.site_table is not None:
        attributes["sites"] = options.site_table
    if options.tls_strict_sni:
        attributes["tls_strict_sni"] = True
    return type("CommandLineFTPHandler", (base,), attributes)


def _stop(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server; return the exit status."""
    parser = build_parser()
    options = parser.parse_args(argv)
    if options.username and options.password is None:
        parser.error("-u/--username needs -P/--password")
    if not os.path.isdir(options.directory):
        parser.error(f"no such directory: {options.directory!r}")
    options.tls = options.tls or options.tls_implicit or options.certfile is not None
    _apply_site_options(parser, options)
    if options.keyfile is not None and options.certfile is None:
        parser.error("--keyfile needs --certfile")
    for path in (options.certfile, options.keyfile):
        if path is not None and not os.path.isfile(path):
            parser.error(f"no such file: {path!r}")
    server_class, workers = _concurrency(parser, options)
    config_logging(logging.DEBUG if options.debug else logging.INFO)
    handler = _make_handler(options)
    try:
        server = server_class((options.interface, options.port), handler)
    except HandlerNotPortable as exc:
        print(f"trioftp: --concurrency {options.concurrency}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(
            f"trioftp: can't listen on {options.interface}:{options.port}: {exc.strerror}",
            file=sys.stderr,
        )
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
    for site in options.site_table or ():
        print(f"site {', '.join(site.names)}", flush=True)
    signal.signal(signal.SIGTERM, _stop)
    server.serve_forever(handle_exit=True, worker_processes=workers)
    return 0
