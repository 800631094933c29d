"""Authorizers: who may log in, where their home is and what they may do there.

An authorizer answers the handler's questions about users: it checks
passwords (:meth:`DummyAuthorizer.validate_authentication`), gives the home
directory and the login/quit messages, and says whether a user holds a
permission letter, globally or for one path (:meth:`DummyAuthorizer.has_perm`).

Its methods are synchronous. The session calls them in its runner (worker
threads unless the server was given another runner), so they may block and
may touch the filesystem: ``has_perm`` (path checks, MLSx ``perm`` facts),
``get_perms``, and ``impersonate_user``/``terminate_impersonation`` around
each call made as the user. The login lookups ``validate_authentication``,
``get_home_dir``, ``get_msg_login`` and ``get_msg_quit`` run there too,
except on a :class:`DummyAuthorizer` whose class overrides none of the four:
those only read the in-memory :attr:`~DummyAuthorizer.user_table`, so they
run inline, on the event loop. An optional ``session_runner(username,
password, base)`` (see :mod:`trioftp.session.runner`) is called on the event
loop at login.

The system's own accounts: :class:`UnixAuthorizer` (PAM passwords, calls run
in threads that are the user; :mod:`trioftp.unix_authorizer`) and
:class:`WindowsAuthorizer` (:mod:`trioftp.windows_authorizer`).
"""

from __future__ import annotations

import hmac
import os
import warnings
from typing import Protocol, TypedDict

from trioftp.exceptions import AuthenticationFailed, AuthorizerError
from trioftp.unix_authorizer import UnixAuthorizer
from trioftp.windows_authorizer import WindowsAuthorizer

__all__ = [
    "AuthenticationFailed",
    "Authorizer",
    "AuthorizerError",
    "DummyAuthorizer",
    "UnixAuthorizer",
    "UserInfo",
    "WindowsAuthorizer",
]

_AUTH_FAILED = "Authentication failed."


class Authorizer(Protocol):
    """What a session needs from an authorizer (``DummyAuthorizer`` has it all).

    Any object with these methods works as ``FTPHandler.authorizer``; they
    are called in the session's runner (worker threads by default), so they
    may block. Only an unmodified :class:`DummyAuthorizer`'s login lookups
    run on the event loop (see the module's documentation).
    """

    def validate_authentication(self, username: str, password: str, handler: object) -> None:
        """Raise :class:`AuthenticationFailed` unless the credentials are right."""

    def get_home_dir(self, username: str) -> str:
        """The user's home directory (a real path)."""

    def has_perm(self, username: str, perm: str, path: str | None = None) -> bool:
        """Whether the user holds permission letter *perm* (for *path*)."""

    def get_perms(self, username: str) -> str:
        """The user's permission letters."""

    def get_msg_login(self, username: str) -> str:
        """The text of the ``230`` reply."""

    def get_msg_quit(self, username: str) -> str:
        """The text of the ``221`` reply."""

    def impersonate_user(self, username: str, password: str) -> None:
        """Switch to the user before filesystem work."""

    def terminate_impersonation(self, username: str) -> None:
        """Switch back after filesystem work."""


class UserInfo(TypedDict):
    """One entry of :attr:`DummyAuthorizer.user_table` (the keys pyftpdlib uses).

    ``operms`` maps a directory, stored as its :func:`os.path.realpath`, to
    ``(letters, recursive)`` as given to :meth:`DummyAuthorizer.override_perm`.
    """

    pwd: str
    home: str
    perm: str
    operms: dict[str, tuple[str, bool]]
    msg_login: str
    msg_quit: str


def _encode(password: str) -> bytes:
    # surrogatepass never fails and keeps distinct strings distinct.
    return password.encode("utf-8", "surrogatepass")


def _is_inside(path: str, directory: str) -> bool:
    """Whether *path* lies strictly below *directory* (both resolved)."""
    prefix = directory if directory.endswith(os.sep) else directory + os.sep
    return path.startswith(prefix)


class _UnknownUser(AuthorizerError, KeyError):
    """No such user: also a KeyError, as pyftpdlib's user-table lookup raises."""

    __str__ = Exception.__str__


class DummyAuthorizer:
    """Virtual users kept in memory, the base class for custom authorizers.

    Permission letters: read ``e`` (CWD/CDUP), ``l`` (LIST, NLST, STAT,
    MLSD, MLST, SIZE, MDTM), ``r`` (RETR); write ``a`` (APPE), ``d`` (DELE,
    RMD), ``f`` (RNFR/RNTO), ``m`` (MKD), ``w`` (STOR, STOU), ``M`` (SITE
    CHMOD), ``T`` (MFMT).

    >>> authorizer = DummyAuthorizer()
    >>> authorizer.add_user("user", "12345", "/", perm="elradfmwMT")
    >>> authorizer.has_perm("user", "w", "/tmp")
    True
    """

    #: The read permission letters.
    read_perms = "elr"
    #: The write permission letters; giving one to ``anonymous`` warns.
    write_perms = "adfmwMT"

    def __init__(self) -> None:
        #: Username to :class:`UserInfo`; pyftpdlib programs read it directly.
        self.user_table: dict[str, UserInfo] = {}

    # --- configuration

    def add_user(
        self,
        username: str,
        password: str,
        homedir: str,
        perm: str = "elr",
        msg_login: str = "Login successful.",
        msg_quit: str = "Goodbye.",
    ) -> None:
        """Add a virtual user whose home is *homedir* and whose letters are *perm*.

        Raises :exc:`AuthorizerError` if the user already exists, if *perm*
        holds a letter outside :attr:`read_perms` + :attr:`write_perms`, or if
        *homedir* is not an existing directory. *homedir* is stored as given.
        Write letters for ``"anonymous"`` give a :exc:`RuntimeWarning`.
        """
        self._add_user(
            username,
            password=password,
            homedir=homedir,
            perm=perm,
            msg_login=msg_login,
            msg_quit=msg_quit,
        )

    def add_anonymous(
        self,
        homedir: str,
        *,
        perm: str = "elr",
        msg_login: str = "Login successful.",
        msg_quit: str = "Goodbye.",
    ) -> None:
        """Add the ``anonymous`` user, who logs in with any password.

        Same checks as :meth:`add_user`; any write letter in *perm* gives a
        :exc:`RuntimeWarning`.
        """
        self._add_user(
            "anonymous",
            password="",
            homedir=homedir,
            perm=perm,
            msg_login=msg_login,
            msg_quit=msg_quit,
        )

    def _add_user(
        self,
        username: str,
        *,
        password: str,
        homedir: str,
        perm: str,
        msg_login: str,
        msg_quit: str,
    ) -> None:
        if self.has_user(username):
            raise AuthorizerError(f"user {username!r} already exists")
        if not os.path.isdir(homedir):
            raise AuthorizerError(f"no such directory: {homedir!r}")
        self._check_perm(username, perm, stacklevel=4)
        self.user_table[username] = UserInfo(
            pwd=password,
            home=homedir,
            perm=perm,
            operms={},
            msg_login=msg_login,
            msg_quit=msg_quit,
        )

    def remove_user(self, username: str) -> None:
        """Remove a user; raises :exc:`KeyError` if there is no such user."""
        del self.user_table[username]

    def override_perm(
        self, username: str, directory: str, perm: str, recursive: bool = False
    ) -> None:
        """Give *username* the letters *perm* in *directory* instead of its own.

        A recursive override covers *directory* and everything below it; a
        non-recursive one covers *directory* and the files (not the
        subdirectories) directly inside it. Where several overrides cover a
        path, the deepest directory wins. The directory is stored resolved
        (:func:`os.path.realpath`).

        Raises :exc:`AuthorizerError` for an unknown user, an unknown letter,
        a directory that does not exist, the home directory itself (use
        *perm* of :meth:`add_user`) or one outside the user's home. Write
        letters for ``"anonymous"`` give a :exc:`RuntimeWarning`.
        """
        if not self.has_user(username):
            raise _UnknownUser(f"no such user {username!r}")
        self._check_perm(username, perm, stacklevel=3)
        if not os.path.isdir(directory):
            raise AuthorizerError(f"no such directory: {directory!r}")
        real = os.path.realpath(directory)
        home = os.path.realpath(self.user_table[username]["home"])
        if real == home:
            raise AuthorizerError("can't override home directory permissions")
        if not _is_inside(real, home):
            raise AuthorizerError(f"path escapes user home directory: {directory!r}")
        self.user_table[username]["operms"][real] = (perm, recursive)

    def _check_perm(self, username: str, perm: str, *, stacklevel: int) -> None:
        """Reject unknown letters; warn about write letters for anonymous.

        *stacklevel* counts from this method to the public caller's caller.
        """
        valid = self.read_perms + self.write_perms
        for letter in perm:
            if letter not in valid:
                raise AuthorizerError(f"no such permission {letter!r}")
        if username == "anonymous" and any(p in self.write_perms for p in perm):
            warnings.warn(
                "write permissions assigned to anonymous user.",
                RuntimeWarning,
                stacklevel=stacklevel,
            )

    # --- authentication

    def validate_authentication(self, username: str, password: str, handler: object) -> None:
        """Raise :exc:`AuthenticationFailed` unless *password* is *username*'s.

        Unknown users and wrong passwords get the same message;
        ``anonymous`` accepts any password. *handler* is the session asking
        (unused here; subclasses may look at it).
        """
        user = self.user_table.get(username)
        if user is None:
            if username == "anonymous":
                raise AuthenticationFailed("Anonymous access not allowed.")
            hmac.compare_digest(_encode(password), _encode(password))  # same work
            raise AuthenticationFailed(_AUTH_FAILED)
        if username == "anonymous":
            return
        if not hmac.compare_digest(_encode(user["pwd"]), _encode(password)):
            raise AuthenticationFailed(_AUTH_FAILED)

    def impersonate_user(self, username: str, password: str) -> None:
        """Switch to *username*'s identity before a filesystem access (no-op).

        A subclass that maps FTP users to system users overrides it. The
        session then calls it, and :meth:`terminate_impersonation` after,
        around every call it makes in its runner once the user has logged in
        (filesystem operations and disk I/O), one such call at a time in the
        process (:class:`~trioftp.session.runner.ImpersonatingRunner`).
        """

    def terminate_impersonation(self, username: str) -> None:
        """Switch back after a filesystem access (no-op).

        Called after each call made as the user, even one that raised; see
        :meth:`impersonate_user`.
        """

    # --- queries

    def has_user(self, username: str) -> bool:
        """Whether *username* is in the user table."""
        return username in self.user_table

    def has_perm(self, username: str, perm: str, path: str | None = None) -> bool:
        """Whether *username* holds the letter *perm*, globally or for *path*.

        *path* is a real filesystem path. With overrides, it is resolved
        (symlinks, ``..``, trailing slashes) before the deepest covering
        override is looked up; a symlink must be allowed both where it lies
        and where it points. False for an unknown user or letter.
        """
        user = self.user_table.get(username)
        if user is None or len(perm) != 1:
            return False
        operms = user["operms"]
        if path is None or not operms:
            return perm in user["perm"]
        return all(perm in self._letters_for(user, candidate) for candidate in _resolve(path))

    @staticmethod
    def _letters_for(user: UserInfo, path: str) -> str:
        """The letters that apply at the resolved *path*."""
        best = -1
        letters = user["perm"]
        for directory, (operm, recursive) in user["operms"].items():
            if len(directory) <= best:
                continue
            if path == directory or (
                _is_inside(path, directory)
                and (recursive or (os.path.dirname(path) == directory and not os.path.isdir(path)))
            ):
                best, letters = len(directory), operm
        return letters

    def has_overrides(self, username: str) -> bool:
        """Whether :meth:`override_perm` gave *username* other letters somewhere.

        Without overrides the user's letters are the same on every path.
        False for an unknown user.
        """
        user = self.user_table.get(username)
        return user is not None and bool(user["operms"])

    def get_perms(self, username: str) -> str:
        """Return the user's global permission letters (:exc:`KeyError` if unknown)."""
        return self.user_table[username]["perm"]

    def get_home_dir(self, username: str) -> str:
        """Return the user's home directory as given to :meth:`add_user`.

        Raises :exc:`KeyError` for an unknown user; subclasses may raise
        :exc:`AuthenticationFailed` instead (it is called while logging in).
        """
        return self.user_table[username]["home"]

    def get_msg_login(self, username: str) -> str:
        """Return the user's login message (:exc:`KeyError` if unknown)."""
        return self.user_table[username]["msg_login"]

    def get_msg_quit(self, username: str) -> str:
        """Return the user's quit message, ``"Goodbye."`` for an unknown user."""
        user = self.user_table.get(username)
        return "Goodbye." if user is None else user["msg_quit"]


def _resolve(path: str) -> tuple[str, ...]:
    """Resolved forms of *path*: the entry itself and, for a symlink, its target."""
    head, tail = os.path.split(path.rstrip(os.sep) or os.sep)
    if tail in ("", ".", ".."):
        return (os.path.realpath(path),)
    location = os.path.join(os.path.realpath(head or os.curdir), tail)
    if os.path.islink(location):
        return (location, os.path.realpath(location))
    return (location,)
