"""Users from a TOML file, with hashed passwords, reloadable while serving.

The file (see ``docs/users-and-limits.md``)::

    [users.alice]
    password = "$argon2id$v=19$m=65536,t=3,p=4$..."   # trioftp passwd
    home = "/srv/ftp/alice"                            # or relative to this file
    perm = "elradfmwMT"                                # default: "elr"
    msg_login = "Welcome, Alice."                      # optional
    msg_quit = "Goodbye."                              # optional

    [users.alice.overrides]                            # pyftpdlib's override_perm
    "pub" = { perm = "elr", recursive = true }         # relative to the home

    [users.alice.limits]                               # all optional, 0: none
    max_download_rate = 1048576                        # bytes per second
    max_upload_rate = 1048576
    quota_bytes = 1073741824
    quota_files = 10000
    max_sessions = 4

    [users.anonymous]                                  # any password
    home = "/srv/ftp/pub"

:class:`UsersFileAuthorizer` loads it (every error is reported at once,
with the user it concerns); :meth:`~UsersFileAuthorizer.reload` reads it
again (the command line calls it on ``SIGHUP``). Editing the file with a
program is :mod:`trioftp.passwd`'s job.
"""

from __future__ import annotations

import os
import tomllib
import warnings
from collections.abc import Mapping
from typing import Any

import attrs

from .authorizers import AuthenticationFailed, AuthorizerError, DummyAuthorizer, UserInfo
from .limits import NO_LIMITS, UserLimits
from .log import logger
from .passwords import UnsupportedHash, check_hash, verify_password

__all__ = ["UserEntry", "UsersFileAuthorizer", "parse_users"]

_USER_KEYS = {"password", "home", "perm", "msg_login", "msg_quit", "overrides", "limits"}
_OVERRIDE_KEYS = {"perm", "recursive"}
_AUTH_FAILED = "Authentication failed."


@attrs.frozen
class UserEntry:
    """One user as the file describes it (paths not yet checked)."""

    name: str
    password: str | None
    home: str
    perm: str = "elr"
    msg_login: str = "Login successful."
    msg_quit: str = "Goodbye."
    #: Directory (as written) -> (letters, recursive).
    overrides: Mapping[str, tuple[str, bool]] = attrs.field(factory=dict)
    limits: UserLimits = NO_LIMITS


def _string(user: str, table: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise AuthorizerError(f"user {user!r}: {key} must be a string")
    return value


def _entry(name: str, table: object) -> UserEntry:
    if not isinstance(table, dict):
        raise AuthorizerError(f"user {name!r}: expected a table [users.{name}]")
    unknown = sorted(set(table) - _USER_KEYS)
    if unknown:
        raise AuthorizerError(f"user {name!r}: unknown key {unknown[0]!r}")
    password: str | None = None
    if name != "anonymous":
        if "password" not in table:
            raise AuthorizerError(f"user {name!r}: no password (make one with: trioftp passwd)")
        password = _string(name, table, "password")
        try:
            check_hash(password)
        except UnsupportedHash as exc:
            raise AuthorizerError(f"user {name!r}: {exc}") from None
    elif "password" in table:
        raise AuthorizerError("user 'anonymous' logs in with any password: remove its password")
    if "home" not in table:
        raise AuthorizerError(f"user {name!r}: no home")
    overrides: dict[str, tuple[str, bool]] = {}
    raw_overrides = table.get("overrides", {})
    if not isinstance(raw_overrides, dict):
        raise AuthorizerError(f"user {name!r}: overrides must be a table")
    for directory, override in raw_overrides.items():
        if not isinstance(override, dict) or set(override) - _OVERRIDE_KEYS:
            raise AuthorizerError(
                f"user {name!r}: override {directory!r} must be {{ perm = ..., recursive = ... }}"
            )
        recursive = override.get("recursive", False)
        if not isinstance(recursive, bool):
            raise AuthorizerError(f"user {name!r}: override {directory!r}: recursive is true/false")
        overrides[directory] = (_string(name, override, "perm"), recursive)
    raw_limits = table.get("limits", {})
    if not isinstance(raw_limits, dict):
        raise AuthorizerError(f"user {name!r}: limits must be a table")
    try:
        limits = UserLimits(**raw_limits)
    except (TypeError, ValueError) as exc:
        raise AuthorizerError(f"user {name!r}: limits: {exc}") from None
    return UserEntry(
        name=name,
        password=password,
        home=_string(name, table, "home"),
        perm=_string(name, table, "perm", "elr"),
        msg_login=_string(name, table, "msg_login", "Login successful."),
        msg_quit=_string(name, table, "msg_quit", "Goodbye."),
        overrides=overrides,
        limits=limits,
    )


def parse_users(text: str) -> list[UserEntry]:
    """The users of a users file's *text*; :exc:`AuthorizerError` says what is wrong.

    Only the file itself is checked (syntax, keys, hashes), not the
    directories it names.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AuthorizerError(f"not valid TOML: {exc}") from None
    unknown = sorted(set(document) - {"users"})
    if unknown:
        raise AuthorizerError(f"unknown top-level key {unknown[0]!r} (users go in [users.NAME])")
    users = document.get("users", {})
    if not isinstance(users, dict):
        raise AuthorizerError("users must be a table of [users.NAME] tables")
    return [_entry(name, table) for name, table in users.items()]


class UsersFileAuthorizer(DummyAuthorizer):
    """A :class:`~trioftp.authorizers.DummyAuthorizer` whose users come from a TOML file.

    Passwords are stored as hashes (argon2id, bcrypt or scrypt: see
    :mod:`trioftp.passwords`) and checked in the session's runner, a few at
    a time per server. Raises :exc:`AuthorizerError` if the file cannot be
    read or describes an impossible user (a home that does not exist, an
    unknown permission letter, a hash whose package is missing...).

    Relative homes are taken from the file's directory, relative override
    directories from the user's home.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        #: The users file.
        self.path = os.fspath(path)
        self._limits: dict[str, UserLimits] = {}
        self._load()

    def _load(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as file:
                text = file.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise AuthorizerError(f"can't read users file {self.path!r}: {exc}") from None
        entries = parse_users(text)
        staging = DummyAuthorizer()
        base = os.path.dirname(os.path.abspath(self.path))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            for entry in entries:
                self._stage(staging, entry, base)
        for warning in caught:
            logger.warning("users file %s: %s", self.path, warning.message)
        self.user_table = staging.user_table
        self._limits = {entry.name: entry.limits for entry in entries}

    @staticmethod
    def _stage(staging: DummyAuthorizer, entry: UserEntry, base: str) -> None:
        home = os.path.join(base, os.path.expanduser(entry.home))
        try:
            if entry.password is None:
                staging.add_anonymous(
                    home, perm=entry.perm, msg_login=entry.msg_login, msg_quit=entry.msg_quit
                )
            else:
                staging.add_user(
                    entry.name, entry.password, home, entry.perm, entry.msg_login, entry.msg_quit
                )
            for directory, (perm, recursive) in entry.overrides.items():
                staging.override_perm(entry.name, os.path.join(home, directory), perm, recursive)
        except AuthorizerError as exc:
            raise AuthorizerError(f"user {entry.name!r}: {exc}") from None

    def reload(self) -> bool:
        """Read the file again; on any error keep the current users and log why.

        Returns True if the new users are in place. Sessions stay logged in
        across a reload; from then on they get the new file's permissions
        (a user removed from the file can do nothing more), and a login
        that has started is checked against the table of its start.
        """
        try:
            self._load()
        except AuthorizerError as exc:
            logger.error(
                "users file %s not reloaded, keeping the %d users loaded before: %s",
                self.path,
                len(self.user_table),
                exc,
            )
            return False
        except Exception:  # a bug must not stop the server the signal came to
            logger.exception(
                "users file %s not reloaded, keeping the users loaded before", self.path
            )
            return False
        logger.info("users file %s reloaded: %d users", self.path, len(self.user_table))
        return True

    def validate_authentication(self, username: str, password: str, handler: object) -> None:
        """Check *password* against the user's hash (slow on purpose: runs in the runner).

        Unknown users cost a hash check too, so that timing does not tell
        which names exist.
        """
        table = self.user_table
        user: UserInfo | None = table.get(username)
        if username == "anonymous":
            if user is None:
                raise AuthenticationFailed("Anonymous access not allowed.")
            return
        if user is None:
            decoy = next((u["pwd"] for name, u in table.items() if name != "anonymous"), None)
            if decoy is not None:
                _verify(username, decoy, password)
            raise AuthenticationFailed(_AUTH_FAILED)
        if not _verify(username, user["pwd"], password):
            raise AuthenticationFailed(_AUTH_FAILED)

    def get_user_limits(self, username: str) -> UserLimits:
        """The user's limits from the file's ``[users.NAME.limits]`` (none: all zero)."""
        return self._limits.get(username, NO_LIMITS)


def _verify(username: str, hashed: str, password: str) -> bool:
    """Check a password; a hash that is no hash (a program's add_user) never matches."""
    try:
        return verify_password(hashed, password)
    except UnsupportedHash as exc:  # the file's hashes are checked at load
        logger.error("user %r has an unusable password hash: %s", username, exc)
        return False
