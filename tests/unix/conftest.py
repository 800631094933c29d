"""Fixtures of the Unix-account tests: throw-away users and a PAM service (root only).

The users are made once per test session (``useradd`` is slow) and removed
at its end; a test that writes in a home uses names of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..support.accounts import Account, create_account, remove_account
from ..support.accounts import pam_service as custom_pam_service

NOLOGIN = "/usr/sbin/nologin"


@pytest.fixture(scope="session")
def accounts() -> Iterator[dict[str, Account]]:
    """The throw-away users made so far, by role; removed when the tests end."""
    made: dict[str, Account] = {}
    yield made
    for account in made.values():
        remove_account(account.name)


def _account(accounts: dict[str, Account], role: str, shell: str = "/bin/bash") -> Account:
    if role not in accounts:
        accounts[role] = create_account(shell)
    return accounts[role]


@pytest.fixture
def alice(accounts: dict[str, Account]) -> Account:
    """A system user with a login shell."""
    return _account(accounts, "alice")


@pytest.fixture
def bob(accounts: dict[str, Account]) -> Account:
    """Another system user with a login shell."""
    return _account(accounts, "bob")


@pytest.fixture
def carol(accounts: dict[str, Account]) -> Account:
    """A third system user with a login shell."""
    return _account(accounts, "carol")


@pytest.fixture
def shell_less(accounts: dict[str, Account]) -> Account:
    """A system user whose shell (nologin) is not in /etc/shells."""
    return _account(accounts, "shell_less", NOLOGIN)


@pytest.fixture(scope="session")
def pam_service() -> Iterator[str]:
    """A PAM service of our own: pam_unix passwords and accounts, no failure delay."""
    with custom_pam_service() as name:
        yield name
