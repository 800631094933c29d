"""``trioftp passwd``: hash a password, and add or update a user in a users file.

::

    trioftp passwd                                # prompt, print the hash
    printf '%s\\n' "$PW" | trioftp passwd --stdin  # read the password from stdin
    trioftp passwd --users-file users.toml --user alice --home /srv/ftp/alice

With ``--users-file`` the user's ``password`` (and ``home``/``perm`` when
given) is set in the file - a new ``[users.NAME]`` table is added for a new
user - and everything else in the file, comments included, is kept. The
file is replaced atomically, keeping its mode, and only once the result
reads back as a valid users file. A running server picks it up on SIGHUP.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
import tempfile
import tomllib
from collections.abc import Sequence

from .authorizers import AuthorizerError
from .passwords import SCHEMES, UnsupportedHash, hash_password
from .userfile import parse_users

__all__ = ["build_passwd_parser", "passwd_main", "set_user"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_HEADER = re.compile(r"\s*\[")


def toml_string(value: str) -> str:
    """*value* as a TOML basic string."""
    out = ['"']
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _toml_key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else toml_string(name)


def _table_path(line: str) -> tuple[str, ...] | None:
    """The key path of a ``[table]`` header line (None for ``[[array]]`` or no header)."""
    if not _HEADER.match(line) or line.lstrip().startswith("[["):
        return None
    try:
        node: object = tomllib.loads(line + "\n")
    except tomllib.TOMLDecodeError:
        return None
    path: list[str] = []
    while isinstance(node, dict) and len(node) == 1:
        key, node = next(iter(node.items()))
        path.append(key)
    return tuple(path)


def _assigned_key(line: str) -> str | None:
    """The key a ``key = value`` line sets (None for anything else)."""
    try:
        parsed = tomllib.loads(line + "\n")
    except tomllib.TOMLDecodeError:
        return None
    if len(parsed) == 1:
        key, value = next(iter(parsed.items()))
        if not isinstance(value, dict):
            return key
    return None


def set_user(
    text: str, username: str, password_hash: str, *, home: str | None, perm: str | None
) -> str:
    """Return users-file *text* with *username*'s password (and home, perm) set.

    Raises :exc:`AuthorizerError` if the result would not be a valid users
    file (a new user needs *home*) or the user is written in a shape this
    function does not edit (an inline table).
    """
    values = {"password": password_hash, "home": home, "perm": perm}
    existing = {entry.name for entry in parse_users(text)}
    lines = text.splitlines()
    if username not in existing:
        if home is None:
            raise AuthorizerError(f"user {username!r} is new: give its home (--home)")
        block = [f"[users.{_toml_key(username)}]"]
        block += [f"{key} = {toml_string(value)}" for key, value in values.items() if value]
        if lines and lines[-1].strip():
            lines.append("")
        lines += block
    else:
        header = next(
            (i for i, line in enumerate(lines) if _table_path(line) == ("users", username)), None
        )
        if header is None:
            raise AuthorizerError(
                f"user {username!r} is not written as a [users.{username}] table: edit it by hand"
            )
        end = next(
            (i for i in range(header + 1, len(lines)) if _HEADER.match(lines[i])), len(lines)
        )
        for key, value in values.items():
            if value is None:
                continue
            new_line = f"{key} = {toml_string(value)}"
            at = next((i for i in range(header + 1, end) if _assigned_key(lines[i]) == key), None)
            if at is None:
                lines.insert(header + 1, new_line)
                end += 1
            else:
                lines[at] = new_line
    result = "\n".join(lines) + "\n"
    parse_users(result)
    return result


def write_atomically(path: str, text: str) -> None:
    """Replace *path* by *text* in one step, keeping its mode (0600 for a new file)."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o600
    fd, temporary = tempfile.mkstemp(prefix=".users-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def build_passwd_parser() -> argparse.ArgumentParser:
    """The parser of ``trioftp passwd``."""
    parser = argparse.ArgumentParser(
        prog="trioftp passwd",
        description="Hash a password (prompted, or read from stdin) and print the hash, "
        "or set it for a user in a users file.",
    )
    add = parser.add_argument
    add("--scheme", choices=SCHEMES, default="argon2id", help="hash scheme (default: argon2id)")
    add("--stdin", action="store_true", help="read the password from the first line of stdin")
    add("--users-file", metavar="PATH", help="add or update --user in this users file")
    add("--user", metavar="NAME", help="the user to add or update (with --users-file)")
    add("--home", metavar="PATH", help="the user's home (needed for a new user)")
    add("--perm", metavar="LETTERS", help="the user's permission letters (default: elr)")
    return parser


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise AuthorizerError("the passwords differ")
    return first


def passwd_main(argv: Sequence[str]) -> int:
    """Run ``trioftp passwd``; return the exit status."""
    parser = build_passwd_parser()
    options = parser.parse_args(argv)
    if (options.users_file is None) != (options.user is None):
        parser.error("--users-file and --user go together")
    if options.users_file is None and (options.home or options.perm):
        parser.error("--home and --perm need --users-file and --user")
    try:
        password = _read_password(options.stdin)
        if not password:
            raise AuthorizerError("empty password")
        hashed = hash_password(password, options.scheme)
        if options.users_file is None:
            print(hashed)
            return 0
        try:
            with open(options.users_file, encoding="utf-8") as file:
                text = file.read()
        except FileNotFoundError:
            text = ""
        updated = set_user(text, options.user, hashed, home=options.home, perm=options.perm)
        write_atomically(options.users_file, updated)
    except (AuthorizerError, UnsupportedHash, OSError, UnicodeDecodeError) as exc:
        print(f"trioftp passwd: {exc}", file=sys.stderr)
        return 1
    except (EOFError, KeyboardInterrupt):
        print("trioftp passwd: no password given", file=sys.stderr)
        return 1
    print(f"trioftp passwd: user {options.user!r} set in {options.users_file}", file=sys.stderr)
    return 0
