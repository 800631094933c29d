"""UnixAuthorizer's settings: the lists, overrides, shells, anonymous, PAM passwords."""

from __future__ import annotations

import os
import threading

import pytest

from trioftp._threadcreds import (
    current_credentials,
    restore_thread_credentials,
    set_thread_credentials,
)
from trioftp.authorizers import AuthenticationFailed, AuthorizerError, UnixAuthorizer
from trioftp.userthreads import UserThreadRunner

from ..support.accounts import Account, needs_root

pytestmark = needs_root


def authorizer(pam_service: str, **options: object) -> UnixAuthorizer:
    return UnixAuthorizer(pam_service=pam_service, **options)  # type: ignore[arg-type]


def test_pam_checks_system_passwords(alice: Account, pam_service: str) -> None:
    account = alice
    auth = authorizer(pam_service)
    auth.validate_authentication(account.name, account.password, None)
    with pytest.raises(AuthenticationFailed, match=r"^Authentication failed\.$"):
        auth.validate_authentication(account.name, "wrong", None)
    with pytest.raises(AuthenticationFailed, match=r"^Authentication failed\.$"):
        auth.validate_authentication("trioftp-no-such-user", "x", None)
    with pytest.raises(AuthenticationFailed):
        auth.validate_authentication(account.name, "nul\0byte", None)


def test_the_default_pam_service_is_login(alice: Account) -> None:
    account = alice
    auth = UnixAuthorizer()
    assert auth.pam_service == "login"
    auth.validate_authentication(account.name, account.password, None)


def test_home_perms_and_messages(alice: Account, pam_service: str) -> None:
    account = alice
    auth = authorizer(pam_service, global_perm="elr", msg_login="Hi.", msg_quit="Bye.")
    assert auth.get_home_dir(account.name) == str(account.home)
    assert auth.has_user(account.name)
    assert not auth.has_user("trioftp-no-such-user")
    assert auth.get_perms(account.name) == "elr"
    assert auth.has_perm(account.name, "r", "/anywhere")
    assert not auth.has_perm(account.name, "w")
    assert auth.get_msg_login(account.name) == "Hi."
    assert auth.get_msg_quit(account.name) == "Bye."
    with pytest.raises(AuthorizerError):
        auth.get_home_dir("trioftp-no-such-user")


def test_allowed_users(alice: Account, bob: Account, pam_service: str) -> None:
    allowed, other = alice, bob
    auth = authorizer(pam_service, allowed_users=[allowed.name])
    auth.validate_authentication(allowed.name, allowed.password, None)
    with pytest.raises(AuthenticationFailed, match=f"User {other.name} is not allowed to login."):
        auth.validate_authentication(other.name, other.password, None)
    assert not auth.has_user(other.name)


def test_rejected_users(alice: Account, bob: Account, pam_service: str) -> None:
    rejected, other = alice, bob
    auth = authorizer(pam_service, rejected_users=[rejected.name])
    auth.validate_authentication(other.name, other.password, None)
    with pytest.raises(AuthenticationFailed, match=f"User {rejected.name} is not allowed"):
        auth.validate_authentication(rejected.name, rejected.password, None)
    assert not auth.has_user(rejected.name)


def test_the_lists_are_checked_when_configured(alice: Account, pam_service: str) -> None:
    account = alice
    with pytest.raises(AuthorizerError, match="mutually exclusive"):
        authorizer(pam_service, allowed_users=[account.name], rejected_users=["root"])
    with pytest.raises(AuthorizerError, match="unknown user trioftp-no-such-user"):
        authorizer(pam_service, allowed_users=["trioftp-no-such-user"])
    with pytest.raises(AuthorizerError, match="unknown user trioftp-no-such-user"):
        authorizer(pam_service, rejected_users=["trioftp-no-such-user"])
    with pytest.raises(AuthorizerError, match='invalid username "anonymous"'):
        authorizer(pam_service, rejected_users=["anonymous"])
    with pytest.raises(AuthorizerError, match="no such permission 'x'"):
        authorizer(pam_service, global_perm="elrx")


def test_require_valid_shell(shell_less: Account, pam_service: str) -> None:
    auth = authorizer(pam_service)
    with pytest.raises(AuthenticationFailed, match=f"User {shell_less.name} doesn't have a valid"):
        auth.validate_authentication(shell_less.name, shell_less.password, None)
    with pytest.raises(AuthorizerError, match="has not a valid shell"):
        authorizer(pam_service, allowed_users=[shell_less.name])
    with pytest.raises(AuthorizerError, match="doesn't have a valid shell"):
        auth.override_user(shell_less.name, perm="elr")
    relaxed = authorizer(pam_service, require_valid_shell=False, allowed_users=[shell_less.name])
    relaxed.validate_authentication(shell_less.name, shell_less.password, None)


def test_without_a_shells_file_every_shell_is_valid(
    shell_less: Account, pam_service: str, tmp_path: object
) -> None:
    auth = authorizer(pam_service)
    auth.shells_file = f"{tmp_path}/no-such-file"
    auth.validate_authentication(shell_less.name, shell_less.password, None)


def test_anonymous_maps_to_a_system_user(
    shell_less: Account, pam_service: str, tmp_path: object
) -> None:
    account = shell_less  # anonymous's account needs no shell
    closed = authorizer(pam_service)
    with pytest.raises(AuthenticationFailed, match=r"^Anonymous access not allowed\.$"):
        closed.validate_authentication("anonymous", "", None)
    auth = authorizer(pam_service, anonymous_user=account.name)
    auth.validate_authentication("anonymous", "any@password", None)
    assert auth.get_home_dir("anonymous") == str(account.home)
    assert auth.get_perms("anonymous") == "elr"
    assert auth.has_user("anonymous")
    runner = auth.session_runner("anonymous", "", None)
    assert isinstance(runner, UserThreadRunner)
    assert runner.user == account.name
    auth.override_user("anonymous", homedir=str(tmp_path))
    assert auth.get_home_dir("anonymous") == str(tmp_path)
    with pytest.raises(AuthorizerError, match="no such user trioftp-no-such-user"):
        authorizer(pam_service, anonymous_user="trioftp-no-such-user")


def test_override_user(alice: Account, pam_service: str, tmp_path: object) -> None:
    account = alice
    auth = authorizer(pam_service)
    auth.override_user(account.name, password="ftp-only", homedir=str(tmp_path), perm="elr")
    auth.validate_authentication(account.name, "ftp-only", None)
    with pytest.raises(AuthenticationFailed):  # the system password no longer counts here
        auth.validate_authentication(account.name, account.password, None)
    assert auth.get_home_dir(account.name) == str(tmp_path)
    assert auth.get_perms(account.name) == "elr"
    auth.override_user(account.name, msg_login="Hello.", msg_quit="See you.")
    assert auth.get_msg_login(account.name) == "Hello."
    assert auth.get_msg_quit(account.name) == "See you."
    assert auth.get_home_dir(account.name) == str(account.home)  # a new override replaces


def test_override_user_refusals(alice: Account, bob: Account, pam_service: str) -> None:
    account, rejected = alice, bob
    auth = authorizer(pam_service, rejected_users=[rejected.name], anonymous_user=account.name)
    with pytest.raises(AuthorizerError, match="at least one keyword argument"):
        auth.override_user(account.name)
    with pytest.raises(AuthorizerError, match="is not an allowed user"):
        auth.override_user(rejected.name, perm="elr")
    with pytest.raises(AuthorizerError, match="can't assign password to anonymous user"):
        auth.override_user("anonymous", password="x")
    with pytest.raises(AuthorizerError, match="no such user"):
        auth.override_user("trioftp-no-such-user", perm="elr")
    with pytest.raises(AuthorizerError, match="no such directory"):
        auth.override_user(account.name, homedir="/nonexistent/dir")
    with pytest.raises(AuthorizerError, match="no such permission"):
        auth.override_user(account.name, perm="elrz")
    with pytest.warns(RuntimeWarning, match="write permissions assigned to anonymous user"):
        auth.override_user("anonymous", perm="elrw")
    assert auth.get_perms("anonymous") == "elrw"


def test_impersonate_user_switches_only_the_calling_thread(
    alice: Account, pam_service: str
) -> None:
    account = alice
    auth = authorizer(pam_service)
    seen: list[object] = []

    def impersonated() -> None:
        auth.impersonate_user(account.name, "")
        seen.append(os.getresuid())
        auth.terminate_impersonation(account.name)
        seen.append(os.getresuid())

    thread = threading.Thread(target=impersonated)
    thread.start()
    thread.join(10)
    assert seen == [(0, account.uid, 0), (0, 0, 0)]
    assert os.getresuid() == (0, 0, 0)
    with pytest.raises(AuthorizerError):
        auth.impersonate_user("trioftp-no-such-user", "")


def test_constructing_it_needs_root(alice: Account, pam_service: str) -> None:
    """Checked with the calling thread's ids: a thread switched to a user is refused."""
    errors: list[BaseException] = []

    def construct_as_alice() -> None:
        before = current_credentials()
        set_thread_credentials(uid=alice.uid, gid=alice.gid, groups=[], keep_saved=True)
        try:
            authorizer(pam_service)
        except AuthorizerError as exc:
            errors.append(exc)
        finally:
            restore_thread_credentials(before)

    thread = threading.Thread(target=construct_as_alice)
    thread.start()
    thread.join(10)
    assert [str(error) for error in errors] == ["super user privileges are required"]
