"""WindowsAuthorizer: the Windows accounts log in (needs Windows and pywin32).

The class can be imported on every system, so a program written for
pyftpdlib imports cleanly; constructing it anywhere but on Windows with the
``pywin32`` package raises :exc:`~trioftp.exceptions.AuthorizerError` saying
so. On Windows, passwords are checked with ``LogonUser``, homes are the
profile directories, and ``impersonate_user`` impersonates the user in the
calling thread (Windows impersonation is per thread); the session runs its
calls through :class:`~trioftp.session.runner.ImpersonatingRunner`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from typing import Any

from ._systemaccounts import ALL_PERMS, ANONYMOUS, SystemAccounts
from .exceptions import AuthenticationFailed, AuthorizerError

__all__ = ["WindowsAuthorizer"]

_NEEDS = "WindowsAuthorizer needs Windows and the pywin32 package (pip install pywin32)"
_PROFILES = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList"


def _pywin32() -> dict[str, Any]:
    """pywin32's modules by name, or :exc:`AuthorizerError` saying what is missing."""
    platform = sys.platform  # read at run time: the check is what this function is for
    if platform != "win32":
        raise AuthorizerError(f"{_NEEDS}; this system is {platform!r}")
    names = ("pywintypes", "win32api", "win32con", "win32net", "win32security", "winreg")
    try:
        return {name: importlib.import_module(name) for name in names}
    except ImportError as exc:
        raise AuthorizerError(f"{_NEEDS}: {exc}") from exc


class WindowsAuthorizer(SystemAccounts):
    """Log in the accounts of Windows (as :class:`~trioftp.authorizers.UnixAuthorizer`).

    No *require_valid_shell*; *anonymous_password* is the password of
    *anonymous_user* (anonymous sessions log on as that account).
    """

    def __init__(
        self,
        global_perm: str = ALL_PERMS,
        allowed_users: Iterable[str] | None = None,
        rejected_users: Iterable[str] | None = None,
        anonymous_user: str | None = None,
        anonymous_password: str | None = None,
        msg_login: str = "Login successful.",
        msg_quit: str = "Goodbye.",
    ) -> None:
        self._win = _pywin32()
        self.anonymous_password = anonymous_password
        super().__init__(
            global_perm=global_perm,
            allowed_users=allowed_users,
            rejected_users=rejected_users,
            anonymous_user=anonymous_user,
            msg_login=msg_login,
            msg_quit=msg_quit,
        )
        if anonymous_user is not None:  # prove the anonymous account can log on
            self.impersonate_user(ANONYMOUS, "")
            self.terminate_impersonation(ANONYMOUS)

    def _logon(self, name: str, password: str) -> Any:
        con = self._win["win32con"]
        return self._win["win32security"].LogonUser(
            name, None, password, con.LOGON32_LOGON_INTERACTIVE, con.LOGON32_PROVIDER_DEFAULT
        )

    def system_user_exists(self, name: str) -> bool:
        """Whether Windows has a local account *name*."""
        users = self._win["win32net"].NetUserEnum(None, 0)[0]
        return any(entry["name"] == name for entry in users)

    def system_home(self, name: str) -> str:
        """*name*'s profile directory (:exc:`KeyError` if it has none)."""
        win = self._win
        try:
            sid = win["win32security"].LookupAccountName(None, name)[0]
            key = win["winreg"].OpenKey(
                win["winreg"].HKEY_LOCAL_MACHINE,
                rf"{_PROFILES}\{win['win32security'].ConvertSidToStringSid(sid)}",
            )
        except (OSError, win["pywintypes"].error) as exc:
            raise KeyError(name) from exc
        value = win["winreg"].QueryValueEx(key, "ProfileImagePath")[0]
        return str(win["win32api"].ExpandEnvironmentStrings(value))

    def check_system_password(self, name: str, password: str) -> None:
        """Raise :exc:`AuthenticationFailed` unless ``LogonUser`` accepts *password*."""
        try:
            self._logon(name, password).Close()
        except self._win["pywintypes"].error as exc:
            raise AuthenticationFailed(self.msg_wrong_password) from exc

    def impersonate_user(self, username: str, password: str) -> None:
        """Impersonate *username* in the calling thread (anonymous: *anonymous_user*)."""
        if username == ANONYMOUS:
            password = self.anonymous_password or ""
        handle = self._logon(self.system_name(username), password)
        try:
            self._win["win32security"].ImpersonateLoggedOnUser(handle)
        finally:
            handle.Close()

    def terminate_impersonation(self, username: str) -> None:
        """End the calling thread's impersonation."""
        self._win["win32security"].RevertToSelf()
