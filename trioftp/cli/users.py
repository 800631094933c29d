"""Options for users, passwords, bandwidth, quotas and bans (docs/users-and-limits.md)."""

from __future__ import annotations

import argparse
import os
import signal

from .. import _clichecks as checks
from ..authorizers import AuthorizerError
from ..log import logger
from ..servers import FTPServer
from ..servers.bans import BanPolicy, Bans
from ..userfile import UsersFileAuthorizer


def add_user_and_limit_options(parser: argparse.ArgumentParser) -> None:
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
    add("--max-download-rate", type=checks.count, default=0, metavar="BYTES", help=rate)
    add("--max-upload-rate", type=checks.count, default=0, metavar="BYTES", help=rate)
    add(
        "--ban-after-failures",
        type=checks.count,
        default=0,
        metavar="N",
        help="ban a host after N failed logins within --ban-window (default: off)",
    )
    add(
        "--ban-max-connections",
        type=checks.count,
        default=0,
        metavar="N",
        help="ban a host that opens N connections within --ban-window (default: off)",
    )
    add(
        "--ban-max-commands",
        type=checks.count,
        default=0,
        metavar="N",
        help="ban a host that sends N commands within --ban-window (default: off)",
    )
    add(
        "--ban-window",
        type=checks.duration,
        default=600.0,
        metavar="SECONDS",
        help="(default: 600)",
    )
    add(
        "--ban-time",
        type=checks.duration,
        default=3600.0,
        metavar="SECONDS",
        help="(default: 3600)",
    )
    add(
        "--ban-allow",
        action="append",
        default=[],
        metavar="NETWORK",
        help="an address or network never banned (repeatable)",
    )


#: The environment variable that may hold -u's password.
PASSWORD_VARIABLE = "TRIOFTP_PASSWORD"


def check_user_options(parser: argparse.ArgumentParser, options: argparse.Namespace) -> None:
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


def apply_user_and_limit_options(server: FTPServer, options: argparse.Namespace) -> None:
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
