"""Throw-away system accounts for the Unix-account tests (root only)."""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

#: The password every throw-away account gets.
PASSWORD = "Throw-away-1"

#: The one reason a Unix-account test may not run.
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: creates system users and runs as them"
)


@attrs.frozen
class Account:
    """A system user made for one test."""

    name: str
    password: str
    uid: int
    gid: int
    home: Path


def _run(*command: str, stdin: str | None = None) -> None:
    subprocess.run(command, input=stdin, text=True, check=True, capture_output=True)


def create_account(shell: str = "/bin/bash") -> Account:
    """``useradd`` a new user with a home, then ``chpasswd`` it :data:`PASSWORD`."""
    name = f"trioftp-test-{secrets.token_hex(4)}"
    _run("useradd", "--create-home", "--shell", shell, name)
    try:
        _run("chpasswd", stdin=f"{name}:{PASSWORD}\n")
    except BaseException:
        remove_account(name)
        raise
    entry = pwd.getpwnam(name)
    return Account(name, PASSWORD, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir))


def remove_account(name: str) -> None:
    """``userdel -r`` the user and its home."""
    # userdel exits 12 (a warning) when there is no mail spool to remove.
    subprocess.run(["userdel", "-r", name], check=False, capture_output=True)
    try:
        pwd.getpwnam(name)
    except KeyError:
        return
    raise AssertionError(f"user {name} was not removed")


@contextlib.contextmanager
def pam_service() -> Iterator[str]:
    """A PAM service of our own (pam_unix passwords and accounts, no failure delay); its name."""
    name = f"trioftp-test-{secrets.token_hex(4)}"
    path = Path("/etc/pam.d") / name
    path.write_text("auth required pam_unix.so nodelay\naccount required pam_unix.so\n")
    try:
        yield name
    finally:
        path.unlink()
