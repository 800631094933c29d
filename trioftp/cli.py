"""The ``trioftp`` command (also ``python -m trioftp``).

With no options it serves the current directory, read-only, to anonymous
users on 127.0.0.1 port 2121. The options are those of ``python -m pyftpdlib``.
"""

from __future__ import annotations

import argparse
import codecs
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
from .auditevent import host_port
from .authorizers import AuthorizerError, DummyAuthorizer
from .handlers import FTPHandler, TLS_FTPHandler
from .log import logger
from .logformats import LOG_FORMATS, configure_logging
from .passwd import passwd_main
from .protocol.proxyheader import TrustedProxies
from .servers import FTPServer, HandlerNotPortable, MultiprocessFTPServer, ThreadedFTPServer
from .servers.bans import BanPolicy, Bans
from .servers.metrics import MetricsEndpoint, PrometheusMetrics
from .servers.signals import sigterm_handler
from .sitesfile import SitesFileError, load_sites
from .storage import StorageUnavailable, parse_storage_option, storage_from_url
from .userfile import UsersFileAuthorizer

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
    _add_site_options(parser)
    _add_hash_options(parser)
    _add_upload_options(parser)
    _add_proxy_protocol_options(parser)
    _add_storage_options(parser)
    _add_concurrency_options(parser)
    add("-v", "--version", action="version", version=f"trioftp {__version__}")
    _add_user_and_limit_options(parser)
    _add_logging_options(parser)
    _add_operations_options(parser)
    _add_encoding_option(parser)
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


def _non_negative_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {value!r}")
    return number


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not 0 < number < float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds: {value!r}")
    return number


def _add_user_and_limit_options(parser: argparse.ArgumentParser) -> None:
    """Options for users, passwords, bandwidth and bans (docs/users-and-limits.md)."""
    users = parser.add_argument_group("users and limits")
    add = users.add_argument
    add(
        "--users-file",
        metavar="PATH",
        help="users from this TOML file, with hashed passwords (reloaded on SIGHUP); "
        "see 'trioftp passwd --help'",
    )
    add(
        "--password-file",
        metavar="PATH",
        help=f"read -u's password from the first line of this file (or set ${PASSWORD_VARIABLE})",
    )
    rate = "bytes per second, all sessions together (default: no limit)"
    add("--max-download-rate", type=_non_negative_int, default=0, metavar="BYTES", help=rate)
    add("--max-upload-rate", type=_non_negative_int, default=0, metavar="BYTES", help=rate)
    add(
        "--ban-after-failures",
        type=_non_negative_int,
        default=0,
        metavar="N",
        help="ban a host after N failed logins within --ban-window (default: off)",
    )
    add(
        "--ban-max-connections",
        type=_non_negative_int,
        default=0,
        metavar="N",
        help="ban a host that opens N connections within --ban-window (default: off)",
    )
    add(
        "--ban-max-commands",
        type=_non_negative_int,
        default=0,
        metavar="N",
        help="ban a host that sends N commands within --ban-window (default: off)",
    )
    add("--ban-window", type=_seconds, default=600.0, metavar="SECONDS", help="(default: 600)")
    add("--ban-time", type=_seconds, default=3600.0, metavar="SECONDS", help="(default: 3600)")
    add(
        "--ban-allow",
        action="append",
        default=[],
        metavar="NETWORK",
        help="an address or network never banned (repeatable)",
    )


#: The environment variable that may hold -u's password.
PASSWORD_VARIABLE = "TRIOFTP_PASSWORD"


def _check_user_options(parser: argparse.ArgumentParser, options: argparse.Namespace) -> None:
    """Read the password from a file or the environment; load the users file."""
    options.users_authorizer = None
    if options.password_file is not None and not options.username:
        parser.error("--password-file needs -u/--username")
    if options.username and options.password is None and options.password_file is not None:
        try:
            with open(options.password_file, encoding="utf-8") as file:
                options.password = file.readline().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            parser.error(f"can't read --password-file: {exc}")
    if options.username and options.password is None:
        options.password = os.environ.get(PASSWORD_VARIABLE)
    if options.users_file is not None:
        if options.username:
            parser.error("--users-file and -u/--username exclude each other")
        try:
            options.users_authorizer = UsersFileAuthorizer(options.users_file)
        except AuthorizerError as exc:
            parser.error(str(exc))
    try:
        options.bans = None
        if options.ban_after_failures or options.ban_max_connections or options.ban_max_commands:
            options.bans = Bans(
                BanPolicy(
                    max_login_failures=options.ban_after_failures,
                    max_connections=options.ban_max_connections,
                    max_commands=options.ban_max_commands,
                    window=options.ban_window,
                    ban_time=options.ban_time,
                    allow=tuple(options.ban_allow),
                )
            )
    except ValueError as exc:
        parser.error(f"--ban-allow: {exc}")


def _rate(value: int) -> str:
    return f"{value} bytes/s" if value else "no limit"


def _apply_user_and_limit_options(server: FTPServer, options: argparse.Namespace) -> None:
    """Server-wide rates and bans; SIGHUP reloads the users file."""
    server.max_download_rate = options.max_download_rate
    server.max_upload_rate = options.max_upload_rate
    server.bans = options.bans
    if server.max_download_rate or server.max_upload_rate:
        logger.info(
            "bandwidth for all sessions together: downloads %s, uploads %s",
            _rate(server.max_download_rate),
            _rate(server.max_upload_rate),
        )
    if options.bans is not None:
        policy = options.bans.policy
        triggers = [
            f"{count} {what}"
            for count, what in [
                (policy.max_login_failures, "failed logins"),
                (policy.max_connections, "connections"),
                (policy.max_commands, "commands"),
            ]
            if count
        ]
        allowed = ", ".join(str(network) for network in policy.allow) or "none"
        logger.info(
            "bans: %g seconds after %s within %g seconds (never banned: %s)",
            policy.ban_time,
            " or ".join(triggers),
            policy.window,
            allowed,
        )
    authorizer = options.users_authorizer
    if authorizer is not None and hasattr(signal, "SIGHUP"):
        # serve_forever delivers it inside the event loop, between two steps of the sessions.
        signal.signal(signal.SIGHUP, lambda signum, frame: authorizer.reload())


def _add_upload_options(parser: argparse.ArgumentParser) -> None:
    """Atomic, resumable uploads (docs/uploads.md)."""
    uploads = parser.add_argument_group("uploads")
    uploads.add_argument(
        "--atomic-uploads",
        action="store_true",
        help="write uploads to a hidden partial file, renamed onto the target when "
        "complete; a broken upload can be resumed",
    )
    uploads.add_argument(
        "--atomic-upload-expiry",
        type=float,
        default=FTPHandler.atomic_upload_expiry,
        metavar="SECONDS",
        help="remove partial files nobody resumed after this long "
        f"(default: {FTPHandler.atomic_upload_expiry:g}; 0: never)",
    )


def _upload_attributes(options: argparse.Namespace) -> dict[str, object]:
    return {
        "atomic_uploads": options.atomic_uploads,
        "atomic_upload_expiry": options.atomic_upload_expiry,
    }


def _add_logging_options(parser: argparse.ArgumentParser) -> None:
    """The log format, log file and metrics options."""
    group = parser.add_argument_group("logging and metrics")
    group.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="line",
        help="line: pyftpdlib's lines (default); json: one JSON object per line; "
        "xferlog: the classic transfer log, written to --log-file (the line log "
        "stays on stderr)",
    )
    group.add_argument(
        "--log-file", metavar="PATH", help="write the log there instead of stderr (appended)"
    )
    group.add_argument(
        "--metrics",
        type=_metrics_address,
        metavar="HOST:PORT",
        help="serve Prometheus metrics on http://HOST:PORT/metrics "
        "(needs the metrics extra: pip install 'trioftp[metrics]')",
    )


def _metrics_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(
            f"invalid metrics address {value!r} (expected HOST:PORT, e.g. 127.0.0.1:9100)"
        )
    return host, int(port)


def _start_logging(options: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Set up the log as the logging options ask (one-line errors)."""
    if options.log_format == "xferlog" and options.log_file is None:
        parser.error("--log-format xferlog needs --log-file")
    level = logging.DEBUG if options.debug else logging.INFO
    try:
        configure_logging(options.log_format, options.log_file, level)
    except OSError as exc:
        parser.error(f"can't write the log file {options.log_file!r}: {exc.strerror}")


def _start_metrics(options: argparse.Namespace, server: FTPServer) -> MetricsEndpoint | None:
    """Serve the server's metrics if ``--metrics`` asks; print where (None if not asked)."""
    if options.metrics is None:
        return None
    host, port = options.metrics
    endpoint = PrometheusMetrics.for_server(server).serve(host, port)
    shown = host_port(*endpoint.address)
    print(f"trioftp: Prometheus metrics at http://{shown}/metrics", flush=True)
    return endpoint


def _proxy_sources(value: str) -> list[str]:
    sources = [part.strip() for part in value.split(",") if part.strip()]
    try:
        TrustedProxies(sources)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return sources


def _add_proxy_protocol_options(parser: argparse.ArgumentParser) -> None:
    """Running behind a load balancer that sends the PROXY protocol."""
    group = parser.add_argument_group("behind a load balancer")
    group.add_argument(
        "--proxy-protocol-from",
        type=_proxy_sources,
        action="extend",
        default=[],
        metavar="ADDR[,ADDR...]",
        help="load balancers (addresses or networks) whose connections start with a "
        "PROXY header (v1 or v2) naming the real client; other addresses are served "
        "without one",
    )


def _add_storage_options(parser: argparse.ArgumentParser) -> None:
    """``--storage URL`` and ``--storage-option KEY=VALUE`` (see docs/storage.md)."""
    storage = parser.add_argument_group("storage (instead of --directory)")
    storage.add_argument(
        "--storage",
        metavar="URL",
        help="serve a store instead of a directory: s3://bucket/prefix (pip install "
        "'trioftp[s3]'; credentials and endpoint from AWS_* variables or ~/.aws), memory://, "
        "file:///path, or any fsspec URL",
    )
    storage.add_argument(
        "--storage-option",
        action="append",
        default=[],
        type=_storage_option,
        metavar="KEY=VALUE",
        help="an option of the store (s3: endpoint_url=..., profile=..., key=..., secret=...); "
        "JSON values are decoded; repeatable",
    )


def _storage_option(text: str) -> tuple[str, object]:
    try:
        return parse_storage_option(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
    authorizer = options.users_authorizer or DummyAuthorizer()
    if options.users_authorizer is not None:
        pass  # users, homes and permissions come from the file
    elif options.username:
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
        "encoding": options.encoding,
    }
    attributes.update(_hash_attributes(options))
    attributes.update(_upload_attributes(options))
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


def _main(arguments: list[str]) -> int:
    parser = build_parser()
    options = parser.parse_args(arguments)
    _check_user_options(parser, options)
    if options.username and options.password is None:
        parser.error("-u/--username needs -P/--password")
    _check_options(parser, options)
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
    _start_logging(options, parser)
    try:
        if not options.storage:
            checks.check_directory(os.path.abspath(options.directory))
        handler = _make_handler(options)
        server = _make_server(options, handler, server_class)
    except checks.CannotStart as exc:
        print(f"trioftp: {exc}", file=sys.stderr)
        return 1
    except HandlerNotPortable as exc:
        print(f"trioftp: --concurrency {options.concurrency}: {exc}", file=sys.stderr)
        return 1
    except StorageUnavailable as exc:
        print(f"trioftp: --storage: {exc}", file=sys.stderr)
        return 1
    server.max_cons = options.max_cons
    server.max_cons_per_ip = options.max_cons_per_ip
    _apply_user_and_limit_options(server, options)
    server.proxy_protocol_from = options.proxy_protocol_from
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
        metrics = _start_metrics(options, server)
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
