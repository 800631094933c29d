"""What the Unix and Windows authorizers share: user lists, overrides, messages, letters.

Both log in the system's own accounts. This base holds the options of
pyftpdlib's two classes: *allowed_users* or *rejected_users*, per-user
overrides (:meth:`SystemAccounts.override_user`), the permission letters and
the login/quit messages. A subclass says which accounts exist, where their
homes are and how passwords are checked.
"""

from __future__ import annotations

import abc
import hmac
import os
import warnings
from collections.abc import Iterable

import attrs

from .exceptions import AuthenticationFailed, AuthorizerError

__all__ = ["ALL_PERMS", "SystemAccounts"]

#: The read letters and the write letters (as ``DummyAuthorizer`` has them).
READ_PERMS = "elr"
WRITE_PERMS = "adfmwMT"
#: Every permission letter: full access.
ALL_PERMS = READ_PERMS + WRITE_PERMS
ANONYMOUS = "anonymous"


@attrs.frozen
class _Override:
    """One user's settings from :meth:`SystemAccounts.override_user` ("" = not set)."""

    password: str
    home: str
    perm: str
    msg_login: str
    msg_quit: str


class SystemAccounts(abc.ABC):
    """The options common to the authorizers of system accounts (see the module)."""

    msg_no_such_user = "Authentication failed."
    msg_wrong_password = "Authentication failed."
    msg_anon_not_allowed = "Anonymous access not allowed."
    msg_invalid_shell = "User %s doesn't have a valid shell."
    msg_rejected_user = "User %s is not allowed to login."

    def __init__(
        self,
        *,
        global_perm: str,
        allowed_users: Iterable[str] | None,
        rejected_users: Iterable[str] | None,
        anonymous_user: str | None,
        msg_login: str,
        msg_quit: str,
    ) -> None:
        self.global_perm = global_perm
        self.allowed_users = list(allowed_users or [])
        self.rejected_users = list(rejected_users or [])
        self.anonymous_user = anonymous_user
        self.msg_login = msg_login
        self.msg_quit = msg_quit
        self._overrides: dict[str, _Override] = {}
        _check_letters(global_perm)
        if self.allowed_users and self.rejected_users:
            raise AuthorizerError("rejected_users and allowed_users options are mutually exclusive")
        for user in self.allowed_users or self.rejected_users:
            if user == ANONYMOUS:
                raise AuthorizerError('invalid username "anonymous"')
            if not self.system_user_exists(user):
                raise AuthorizerError(f"unknown user {user}")
        if anonymous_user is not None:
            if not self.system_user_exists(anonymous_user):
                raise AuthorizerError(f"no such user {anonymous_user}")
            if not os.path.isdir(self.system_home(anonymous_user)):
                raise AuthorizerError(f"no valid home set for user {anonymous_user}")

    # --- what a subclass provides

    @abc.abstractmethod
    def system_user_exists(self, name: str) -> bool:
        """Whether the system has an account *name*."""

    @abc.abstractmethod
    def system_home(self, name: str) -> str:
        """The home directory of the system account *name* (:exc:`KeyError` if none)."""

    @abc.abstractmethod
    def check_system_password(self, name: str, password: str) -> None:
        """Raise :exc:`AuthenticationFailed` unless *password* is *name*'s."""

    # --- configuration

    def override_user(
        self,
        username: str,
        password: str | None = None,
        homedir: str | None = None,
        perm: str | None = None,
        msg_login: str | None = None,
        msg_quit: str | None = None,
    ) -> None:
        """Give *username* its own password, home, letters or messages.

        An overridden password replaces the system's for this server. Raises
        :exc:`AuthorizerError` when nothing is given, for a user the lists
        keep out or the system does not have, for a password given to
        ``anonymous``, an unknown letter or a home that is not a directory.
        Write letters for ``anonymous`` give a :exc:`RuntimeWarning`.
        """
        if not (password or homedir or perm or msg_login or msg_quit):
            raise AuthorizerError("at least one keyword argument must be specified")
        if self._is_rejected_user(username):
            raise AuthorizerError(f"{username} is not an allowed user")
        if username == ANONYMOUS and password:
            raise AuthorizerError("can't assign password to anonymous user")
        if not self.has_user(username):
            raise AuthorizerError(f"no such user {username}")
        if homedir and not os.path.isdir(homedir):
            raise AuthorizerError(f"no such directory: {homedir!r}")
        _check_letters(perm or "")
        if username == ANONYMOUS and any(letter in WRITE_PERMS for letter in perm or ""):
            warnings.warn(
                "write permissions assigned to anonymous user.", RuntimeWarning, stacklevel=3
            )
        self._overrides[username] = _Override(
            password or "", homedir or "", perm or "", msg_login or "", msg_quit or ""
        )

    # --- the authorizer's questions

    def system_name(self, username: str) -> str:
        """The system account an FTP user name stands for (``anonymous``: *anonymous_user*)."""
        if username == ANONYMOUS and self.anonymous_user is not None:
            return self.anonymous_user
        return username

    def validate_authentication(self, username: str, password: str, handler: object) -> None:
        """Raise :exc:`AuthenticationFailed` unless *username* may log in with *password*.

        ``anonymous`` needs *anonymous_user* and takes any password; others
        must pass the lists, then the overridden password or the system's.
        """
        if username == ANONYMOUS:
            if self.anonymous_user is None:
                raise AuthenticationFailed(self.msg_anon_not_allowed)
            return
        if self._is_rejected_user(username):
            raise AuthenticationFailed(self.msg_rejected_user % username)
        override = self._overrides.get(username)
        if override is not None and override.password:
            if not hmac.compare_digest(_encode(override.password), _encode(password)):
                raise AuthenticationFailed(self.msg_wrong_password)
        else:
            self.check_system_password(username, password)

    def has_user(self, username: str) -> bool:
        """Whether *username* may use this server: a system account the lists let in."""
        if self._is_rejected_user(username):
            return False
        return self.system_user_exists(self.system_name(username))

    def get_home_dir(self, username: str) -> str:
        """The overridden home, else the system account's home.

        Raises :exc:`AuthorizerError` for an unknown user.
        """
        override = self._overrides.get(username)
        if override is not None and override.home:
            return override.home
        try:
            return self.system_home(self.system_name(username))
        except KeyError as exc:
            raise AuthorizerError(self.msg_no_such_user) from exc

    def get_perms(self, username: str) -> str:
        """The overridden letters, else ``elr`` for anonymous and *global_perm* for others."""
        override = self._overrides.get(username)
        if override is not None and override.perm:
            return override.perm
        return READ_PERMS if username == ANONYMOUS else self.global_perm

    def has_perm(self, username: str, perm: str, path: str | None = None) -> bool:
        """Whether *username* holds letter *perm* (the same on every path)."""
        return len(perm) == 1 and perm in self.get_perms(username)

    def has_overrides(self, username: str) -> bool:
        """False: a user's letters are the same on every path."""
        return False

    def get_msg_login(self, username: str) -> str:
        """The overridden login message, else *msg_login*."""
        override = self._overrides.get(username)
        return (override.msg_login if override is not None else "") or self.msg_login

    def get_msg_quit(self, username: str) -> str:
        """The overridden quit message, else *msg_quit*."""
        override = self._overrides.get(username)
        return (override.msg_quit if override is not None else "") or self.msg_quit

    def _is_rejected_user(self, username: str) -> bool:
        """Whether the lists keep *username* out."""
        if self.allowed_users and username not in self.allowed_users:
            return True
        return username in self.rejected_users


def _check_letters(perm: str) -> None:
    for letter in perm:
        if letter not in ALL_PERMS:
            raise AuthorizerError(f"no such permission {letter!r}")


def _encode(password: str) -> bytes:
    return password.encode("utf-8", "surrogatepass")
