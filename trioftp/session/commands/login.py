"""Login and logout: USER, PASS, REIN, QUIT and HOST (RFC 959, RFC 7151)."""

from __future__ import annotations

import ipaddress
import logging
import socket

import trio

from ..._util import replaces
from ...authorizers import AuthenticationFailed, AuthorizerError, DummyAuthorizer
from ...limits import NO_LIMITS, Account, UserLimits, scan_usage
from ...protocol.addresses import normalize_ip
from ...protocol.replies import sanitize
from ..context import CommandContext
from ..sites import HostArgument, Site, SiteTable, parse_host_argument

__all__ = ["LoginCommands"]


class LoginCommands:
    """Commands that start and end a user's login."""

    async def ftp_USER(self: CommandContext, line: str) -> None:
        """Remember the user name; a second USER logs the current user out."""
        if self.authenticated:
            await self.logout()
        self.session_state.username = line
        self.respond("331 Username ok, send password.")

    async def ftp_PASS(self: CommandContext, line: str) -> None:
        """Check the password; log in, or count a failed attempt."""
        state = self.session_state
        if state.authenticated:
            self.respond("503 User already authenticated.")
            return
        if not state.username:
            self.respond("503 Login with USER first.")
            return
        username, password, authorizer = state.username, line, self.authorizer

        def authenticate() -> tuple[str, str, UserLimits]:
            authorizer.validate_authentication(username, password, self)
            home, msg_login = authorizer.get_home_dir(username), authorizer.get_msg_login(username)
            return home, msg_login, _user_limits(authorizer, username)

        try:
            if _in_memory(authorizer):
                home, msg_login, limits = authenticate()
            else:
                home, msg_login, limits = await self.run_password_check(authenticate)
        except (AuthenticationFailed, AuthorizerError) as exc:
            await _login_failed(self, username, password, str(exc))
            return
        if not self.enter_account(username, limits):
            state.username = ""
            self.audit(
                "login_refused",
                f"USER {sanitize(username)!r} refused: max_sessions={limits.max_sessions} reached.",
                logging.WARNING,
            )
            self.respond(f"530 Too many sessions for user {sanitize(username)!r}.")
            return
        self.start_login(username, password, home)
        if self.account is not None and self.account.usage is not None:
            await _count_usage(self, self.account)
        self.respond(f"230 {msg_login}")
        await self.session_events.logged_in(self, username)

    async def ftp_REIN(self: CommandContext, line: str) -> None:
        """Log out and wait for a new USER (``220``); a HOST is forgotten too."""
        await self.logout()
        self.forget_site()
        self.respond("220 Ready for new user.")

    async def ftp_QUIT(self: CommandContext, line: str) -> None:
        """Say goodbye and close (a running transfer finishes first)."""
        msg_quit = "Goodbye."
        username = self.username
        if self.authenticated:
            get_quit = self.authorizer.get_msg_quit
            if _in_memory(self.authorizer):
                msg_quit = get_quit(username)
            else:
                msg_quit = await self.run_blocking(get_quit, username)
        self.respond(f"221 {msg_quit}")
        self.close_when_done()
        if self.authenticated and username:
            await self.session_events.logged_out(self, username)

    def ftp_HOST(self: CommandContext, line: str) -> None:
        """Select the virtual host before login (RFC 7151): ``220`` and its banner.

        A later HOST replaces an earlier one; a refused one (``501``, ``504``)
        leaves the session as if no HOST had been sent.
        """
        if self.authenticated or self.username:
            self.respond("503 HOST must be sent before USER.")
            return
        try:
            argument = parse_host_argument(line)
        except ValueError:
            self.respond(f"501 Invalid host name {sanitize(line.strip())!r}.")
            return
        shown = sanitize(line.strip())
        tls = self.tls_protection
        found, site = _site_named(self, argument)
        if not found:
            self.forget_site()
            self.respond(f"504 Unknown host {shown!r}.")
        elif tls is not None and tls.control_protected and site is not tls.handshake_site:
            # The certificate presented was another site's (RFC 7151 section 4).
            self.forget_site()
            self.respond(f"504 Host {shown!r} is not the host of this TLS session.")
        else:
            self.select_site(site)
            self.session_state.requested_host = argument.value
            self.respond(f"220 {self.banner}")


def _in_memory(authorizer: object) -> bool:
    """True if *authorizer* is DummyAuthorizer's own in-memory table.

    Its lookups never block, so they run without a runner call; any subclass
    that overrides them (a database, PAM, ...) runs in the runner. Checked
    each time: a program may replace a method of its authorizer's class.
    """
    return isinstance(authorizer, DummyAuthorizer) and not replaces(
        type(authorizer),
        DummyAuthorizer,
        "validate_authentication",
        "get_home_dir",
        "get_msg_login",
        "get_msg_quit",
    )


async def _login_failed(session: CommandContext, username: str, password: str, why: str) -> None:
    state = session.session_state
    state.attempted_logins += 1
    await trio.sleep(session.auth_failed_timeout)
    await session.session_events.login_failed(session, username, password)
    state.username = ""
    why = sanitize(why.strip()) or "Authentication failed."
    if state.attempted_logins >= session.max_login_attempts:
        session.respond(f"530 {why} Disconnecting.")  # as pyftpdlib 2 says it
        session.close_when_done()
    else:
        session.respond(f"530 {why}")


def _user_limits(authorizer: object, username: str) -> UserLimits:
    """The authorizer's ``get_user_limits(username)``, if it has one (blocking)."""
    get_limits = getattr(authorizer, "get_user_limits", None)
    limits = get_limits(username) if get_limits is not None else None
    return limits if isinstance(limits, UserLimits) else NO_LIMITS


async def _count_usage(session: CommandContext, account: Account) -> None:
    """Count the user's files once for all their sessions (see :mod:`trioftp.limits.quota`)."""
    usage = account.usage
    while usage is not None:
        counted = account.counted
        if counted is None:
            account.counted = counted = trio.Event()
            try:
                usage.set_totals(*await session.run_blocking(scan_usage, session.vfs.root))
            except BaseException:
                account.counted = None  # the next session to wait counts again
                raise
            finally:
                counted.set()
            return
        await counted.wait()
        if account.counted is counted:
            return


def _site_named(session: CommandContext, argument: HostArgument) -> tuple[bool, Site | None]:
    """Whether HOST's *argument* names this server, and the site it names (None: default).

    The default site answers to the server's own address, ``host_names``,
    ``localhost`` on loopback and the machine's host name.
    """
    local = normalize_ip(session.local_ip)
    if argument.is_address:
        return normalize_ip(argument.value) == local, None
    name = argument.value
    site = SiteTable.of(session.sites).find(name)
    if site is not None:
        return True, site
    if name in (host.lower().rstrip(".") for host in session.host_names):
        return True, None
    if name == "localhost":
        return ipaddress.ip_address(local).is_loopback, None
    # The host's own name: gethostname reads a kernel value, it never blocks.
    return name == socket.gethostname().lower(), None
