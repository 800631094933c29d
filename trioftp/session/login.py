"""Login and logout: USER, PASS, REIN, QUIT and HOST (RFC 959, RFC 7151)."""

from __future__ import annotations

import ipaddress
import socket

import trio

from ..authorizers import AuthenticationFailed, AuthorizerError, DummyAuthorizer
from ..protocol.addresses import normalize_ip
from ..protocol.listing import DEFAULT_FACTS
from ..protocol.replies import sanitize
from .base import SessionBase, logger

__all__ = ["LoginCommands"]


class LoginCommands(SessionBase):
    """Commands that start and end a user's login."""

    #: The name a client selected with HOST (RFC 7151), for user code to read.
    requested_host: str | None = None

    async def ftp_USER(self, line: str) -> None:
        """Remember the user name; a second USER logs the current user out."""
        if self.authenticated:
            await self._close_data_channels()
            await self._logout()
        self.username = line
        self.respond("331 Username ok, send password.")

    async def ftp_PASS(self, line: str) -> None:
        """Check the password; log in, or count a failed attempt."""
        if self.authenticated:
            self.respond("503 User already authenticated.")
            return
        if not self.username:
            self.respond("503 Login with USER first.")
            return
        username, password = self.username, line
        try:
            if self._authorizer_in_memory():
                home, msg_login = self._authenticate(username, password)
            else:
                home, msg_login = await self.run_blocking(self._authenticate, username, password)
        except (AuthenticationFailed, AuthorizerError) as exc:
            await self._login_failed(username, password, str(exc))
            return
        self.password = password
        self.attempted_logins = 0
        self.fs = self.abstracted_fs(home, self)
        self.authenticated = True
        self.respond(f"230 {msg_login}")
        self.log(f"USER {sanitize(username)!r} logged in.")
        await self.call_hook(self.on_login, username)

    def _authenticate(self, username: str, password: str) -> tuple[str, str]:
        """Validate the credentials; return the home directory and login message (may block)."""
        self.authorizer.validate_authentication(username, password, self)
        return self.authorizer.get_home_dir(username), self.authorizer.get_msg_login(username)

    def _authorizer_in_memory(self) -> bool:
        """True if the authorizer is DummyAuthorizer's own in-memory table.

        Its lookups never block, so they run without a thread hop; any
        subclass that overrides them (a database, PAM, ...) runs in a thread.
        """
        kind = type(self.authorizer)
        return all(
            getattr(kind, name) is getattr(DummyAuthorizer, name)
            for name in ("validate_authentication", "get_home_dir", "get_msg_login", "get_msg_quit")
        )

    async def _login_failed(self, username: str, password: str, why: str) -> None:
        self.attempted_logins += 1
        await trio.sleep(self.auth_failed_timeout)
        self.log(f"USER {sanitize(username)!r} failed login.", logfun=logger.warning)
        await self.call_hook(self.on_login_failed, username, password)
        self.username = ""
        why = sanitize(why.strip()) or "Authentication failed."
        if self.attempted_logins >= self.max_login_attempts:
            self.respond(f"530 {why} Disconnecting.")  # as pyftpdlib 2 says it
            self.close_when_done()
        else:
            self.respond(f"530 {why}")

    async def _logout(self) -> None:
        username = self.username if self.authenticated else ""
        self.flush_account()
        if username:
            await self.call_hook(self.on_logout, username)

    def flush_account(self) -> None:
        """Forget the logged-in user and per-login state (REIN, a new USER)."""
        self.authenticated = False
        self.username = ""
        self.password = ""
        self.attempted_logins = 0
        self.fs = None
        self._current_type = "a"
        self._restart_position = 0
        self._rnfr = None
        self._epsvall = False
        self._current_facts = DEFAULT_FACTS
        self.requested_host = None

    async def ftp_REIN(self, line: str) -> None:
        """Log out and wait for a new USER (``220``)."""
        await self._close_data_channels()
        await self._logout()
        self.respond("220 Ready for new user.")

    async def ftp_QUIT(self, line: str) -> None:
        """Say goodbye and close (a running transfer finishes first)."""
        msg_quit = "Goodbye."
        if self.authenticated:
            get_quit = self.authorizer.get_msg_quit
            if self._authorizer_in_memory():
                msg_quit = get_quit(self.username)
            else:
                msg_quit = await self.run_blocking(get_quit, self.username)
        self.respond(f"221 {msg_quit}")
        self.close_when_done()
        if self.authenticated and self.username:
            await self.call_hook(self.on_logout, self.username)

    def ftp_HOST(self, line: str) -> None:
        """Select the virtual host before login (RFC 7151)."""
        if self.authenticated or self.username:
            self.respond("503 HOST must be sent before USER.")
            return
        name = line.strip()
        if name.startswith("[") and name.endswith("]"):
            name = name[1:-1]
        if not self._known_host(name):
            self.respond(f"504 Unknown host {sanitize(name)!r}.")
            return
        self.requested_host = name
        self.respond(f"220 Host {sanitize(name)!r} accepted.")

    def _known_host(self, name: str) -> bool:
        lowered = name.lower().rstrip(".")
        if lowered in (host.lower() for host in self.host_names):
            return True
        local = normalize_ip(self.local_ip)
        try:
            return normalize_ip(lowered) == local
        except ValueError:
            pass
        if lowered == "localhost":
            return ipaddress.ip_address(local).is_loopback
        return lowered == socket.gethostname().lower()
