"""UnixAuthorizer: the system's own accounts log in, and work as themselves.

Users and homes come from the password database (:mod:`pwd`, so NSS:
``/etc/passwd``, LDAP, ...), passwords are checked by PAM (the
``python-pam`` binding, ``pip install trioftp[unix]``), and every filesystem
call of a logged-in session runs with that user's uid, gid and groups, so
the kernel decides what the user may do.

How the calls run as the user: :meth:`UnixAuthorizer.session_runner` gives
each logged-in session a :class:`~trioftp.userthreads.UserThreadRunner`,
threads that switched themselves - and only themselves - to the user for
good; the process and its event loop stay root. Two users' calls at the same
moment never share credentials, and nothing ever has to switch back. Where
Linux's per-thread system calls are not available, the session falls back
to :meth:`impersonate_user`/:meth:`terminate_impersonation` around each call,
one call at a time in the process
(:class:`~trioftp.session.runner.ImpersonatingRunner`). ``docs/unix-users.md``
tells the whole design.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

from . import _threadcreds
from ._systemaccounts import ALL_PERMS, ANONYMOUS, SystemAccounts
from .exceptions import AuthenticationFailed, AuthorizerError
from .userthreads import UserThreadRunner

if sys.platform != "win32":
    import pwd

__all__ = ["UnixAuthorizer"]


class UnixAuthorizer(SystemAccounts):
    """Log in the accounts of the Unix system (see the module documentation).

    *global_perm*: the letters of every user but ``anonymous`` (``elr``);
    *allowed_users* / *rejected_users*: the only accounts let in / the
    accounts kept out (not both; every name must exist and none may be
    ``anonymous``); *require_valid_shell*: refuse users whose login shell is
    not in ``/etc/shells`` (no check if that file is missing; ``anonymous``
    is never checked); *anonymous_user*: the system account anonymous
    sessions run as (None: no anonymous access); *msg_login*, *msg_quit*:
    the ``230`` and ``221`` texts.

    trioftp's keywords: *pam_service*, the PAM service that checks passwords
    (``/etc/pam.d/<name>``; ``login`` by default, as python-pam's);
    *threads_per_session*, how many calls of one session may run at once.

    The process must run as root: :exc:`AuthorizerError` otherwise.

    >>> authorizer = UnixAuthorizer(rejected_users=["root"])  # doctest: +SKIP
    >>> authorizer.override_user("matt", password="foo", perm="elr")  # doctest: +SKIP
    """

    #: Where the valid login shells are listed.
    shells_file = "/etc/shells"

    def __init__(
        self,
        global_perm: str = ALL_PERMS,
        allowed_users: Iterable[str] | None = None,
        rejected_users: Iterable[str] | None = None,
        require_valid_shell: bool = True,
        anonymous_user: str | None = None,
        msg_login: str = "Login successful.",
        msg_quit: str = "Goodbye.",
        *,
        pam_service: str = "login",
        threads_per_session: int = 2,
    ) -> None:
        if sys.platform == "win32" or os.geteuid() != 0:
            raise AuthorizerError("super user privileges are required")
        self.require_valid_shell = require_valid_shell
        self.pam_service = pam_service
        self.threads_per_session = threads_per_session
        self._process = _threadcreds.current_credentials()
        self._pam = _load_pam()
        super().__init__(
            global_perm=global_perm,
            allowed_users=allowed_users,
            rejected_users=rejected_users,
            anonymous_user=anonymous_user,
            msg_login=msg_login,
            msg_quit=msg_quit,
        )
        if require_valid_shell:
            for username in self.allowed_users:
                if not self._has_valid_shell(username):
                    raise AuthorizerError(f"user {username} has not a valid shell")

    def override_user(
        self,
        username: str,
        password: str | None = None,
        homedir: str | None = None,
        perm: str | None = None,
        msg_login: str | None = None,
        msg_quit: str | None = None,
    ) -> None:
        """Override options for one user (see :meth:`SystemAccounts.override_user`).

        With *require_valid_shell*, a user without a valid shell is refused
        (:exc:`AuthorizerError`).
        """
        if (
            self.require_valid_shell
            and username != ANONYMOUS
            and self.system_user_exists(username)
            and not self._has_valid_shell(username)
        ):
            raise AuthorizerError(self.msg_invalid_shell % username)
        super().override_user(username, password, homedir, perm, msg_login, msg_quit)

    # --- the system's accounts

    def system_user_exists(self, name: str) -> bool:
        """Whether the password database has *name*."""
        try:
            pwd.getpwnam(name)
        except KeyError:
            return False
        return True

    @staticmethod
    def _get_system_users() -> list[str]:
        """Every account of the password database (pyftpdlib's helper, kept for its callers).

        Enumerating may be slow or partial with network directories (NSS):
        the authorizer itself only looks names up.
        """
        return [entry.pw_name for entry in pwd.getpwall()]

    def system_home(self, name: str) -> str:
        """*name*'s home directory from the password database."""
        return pwd.getpwnam(name).pw_dir

    def check_system_password(self, name: str, password: str) -> None:
        """Ask PAM (service :attr:`pam_service`) whether *password* is *name*'s.

        Besides the password, PAM's account checks apply (an expired or
        locked account is refused).
        """
        try:
            accepted = self._pam.authenticate(name, password, service=self.pam_service)
        except ValueError:  # a NUL byte in the name or password
            accepted = False
        if not accepted:
            raise AuthenticationFailed(self.msg_wrong_password)

    def validate_authentication(self, username: str, password: str, handler: object) -> None:
        """Check the lists and the password, then the user's shell (``require_valid_shell``)."""
        super().validate_authentication(username, password, handler)
        if (
            self.require_valid_shell
            and username != ANONYMOUS
            and not self._has_valid_shell(username)
        ):
            raise AuthenticationFailed(self.msg_invalid_shell % username)

    def _has_valid_shell(self, username: str) -> bool:
        """Whether *username*'s login shell is listed (True without the list)."""
        try:
            file = open(self.shells_file, encoding="utf-8", errors="replace")  # noqa: SIM115
        except FileNotFoundError:
            return True
        with file:
            try:
                shell = pwd.getpwnam(username).pw_shell
            except KeyError:
                return False
            return any(line.strip() == shell for line in file if not line.lstrip().startswith("#"))

    # --- running as the user

    def session_runner(self, username: str, password: str, base: object) -> UserThreadRunner | None:
        """The runner of a session logged in as *username*: threads that are the user.

        None where threads can't switch themselves (not Linux, an unknown
        machine): the session then calls :meth:`impersonate_user` and
        :meth:`terminate_impersonation` around each call, one at a time.
        """
        if not _threadcreds.SUPPORTED:
            return None
        return UserThreadRunner(self.system_name(username), self.threads_per_session)

    def impersonate_user(self, username: str, password: str) -> None:
        """Switch the calling thread's effective ids and groups to *username*'s.

        The real and saved ids stay root, so :meth:`terminate_impersonation`
        switches back; other threads are untouched. Where threads can't
        switch alone, the whole process switches (``setgroups``, ``setegid``,
        ``seteuid``, as pyftpdlib does, plus the groups). Raises
        :exc:`AuthorizerError` for an unknown user; a switch that fails
        half-way is undone before the error is raised.
        """
        try:
            entry = pwd.getpwnam(self.system_name(username))
        except KeyError as exc:
            raise AuthorizerError(self.msg_no_such_user) from exc
        groups = os.getgrouplist(entry.pw_name, entry.pw_gid)
        try:
            if _threadcreds.SUPPORTED:
                _threadcreds.set_thread_credentials(
                    uid=entry.pw_uid, gid=entry.pw_gid, groups=groups, keep_saved=True
                )
            else:
                os.setgroups(groups)
                os.setegid(entry.pw_gid)
                os.seteuid(entry.pw_uid)
        except BaseException:
            self.terminate_impersonation(username)
            raise

    def terminate_impersonation(self, username: str) -> None:
        """Switch the calling thread (or the process) back to the server's ids."""
        if _threadcreds.SUPPORTED:
            _threadcreds.restore_thread_credentials(self._process)
            return
        os.seteuid(self._process.uids[1])
        os.setegid(self._process.gids[1])
        os.setgroups(list(self._process.groups))


def _load_pam() -> Any:
    """The python-pam module, or a clear error saying how to install it."""
    try:
        import pam  # type: ignore[import-untyped]  # noqa: PLC0415
    except ImportError as exc:
        raise AuthorizerError(
            "UnixAuthorizer checks passwords with PAM: install python-pam "
            "(pip install 'trioftp[unix]')"
        ) from exc
    return pam
