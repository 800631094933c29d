"""The virtual hosts of ``trioftp --sites FILE``: a small TOML file, read with :mod:`tomllib`.

Each ``[[site]]`` table describes one site (see ``docs/virtual-hosts.md``)::

    [[site]]
    name = "ftp.a.example"          # required: the name HOST and SNI use
    aliases = ["a.example"]         # more names of the same site
    directory = "/srv/a"            # required: what the site serves
    write = false                   # read-write access (default: read-only)
    username = "alice"              # a user and password (default: anonymous)
    password = "secret"
    banner = "Welcome to A."        # the 220 text answering HOST
    certfile = "/etc/ssl/a.pem"     # its certificate for FTPS (SNI)
    keyfile = "/etc/ssl/a.key"

Relative paths are relative to the file's directory. Every mistake is a
:class:`SitesFileError` with a one-line message naming the file and the site.
"""

from __future__ import annotations

import os
import tomllib
import warnings
from pathlib import Path
from typing import Any

from .authorizers import DummyAuthorizer
from .session.sites import Site, SiteTable

__all__ = ["READ_ONLY", "READ_WRITE", "SitesFileError", "load_sites"]

#: The permissions of ``write = false`` and ``write = true`` (those of ``-w``).
READ_ONLY = "elr"
READ_WRITE = "elradfmwMT"

_KEYS = {
    "name", "aliases", "directory", "write", "username", "password", "banner", "certfile",
    "keyfile",
}  # fmt: skip


class SitesFileError(ValueError):
    """A sites file that can't be used; the message is one line."""


def load_sites(path: str | os.PathLike[str]) -> SiteTable:
    """Read the sites of the TOML file at *path* (blocking); SitesFileError if it is bad."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except OSError as exc:
        raise SitesFileError(f"{path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SitesFileError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(document) - {"site"})
    if unknown:
        raise SitesFileError(f"{path}: unknown key {unknown[0]!r} (sites are [[site]] tables)")
    tables = document.get("site")
    if not isinstance(tables, list) or not tables:
        raise SitesFileError(f"{path}: no [[site]] table")
    sites = [_site(path, number, table) for number, table in enumerate(tables, 1)]
    try:
        return SiteTable(sites)
    except ValueError as exc:
        raise SitesFileError(f"{path}: {exc}") from None


def _site(path: Path, number: int, table: Any) -> Site:
    where = f"{path}: site {number}"
    if not isinstance(table, dict):
        raise SitesFileError(f"{where}: not a table")
    if isinstance(table.get("name"), str):
        where += f" ({table['name']})"
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise SitesFileError(f"{where}: unknown key {unknown[0]!r}")
    try:
        return _build(path.parent, table)
    except (TypeError, ValueError) as exc:
        raise SitesFileError(f"{where}: {exc}") from None


def _text(table: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            raise ValueError(f"{key!r} is required")
        return None
    if not isinstance(value, str) or not value:
        raise TypeError(f"{key!r} must be a non-empty string")
    return value


def _file(base: Path, table: dict[str, Any], key: str) -> str | None:
    value = _text(table, key)
    if value is None:
        return None
    found = base / value
    if not found.is_file():
        raise ValueError(f"no such file: {str(found)!r} ({key})")
    return str(found)


def _build(base: Path, table: dict[str, Any]) -> Site:
    name = _text(table, "name", required=True)
    aliases = table.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(alias, str) for alias in aliases):
        raise TypeError("'aliases' must be a list of strings")
    directory = base / str(_text(table, "directory", required=True))
    if not directory.is_dir():
        raise ValueError(f"no such directory: {str(directory)!r}")
    write = table.get("write", False)
    if not isinstance(write, bool):
        raise TypeError("'write' must be true or false")
    username, password = _text(table, "username"), table.get("password")
    if username is not None and not isinstance(password, str):
        raise ValueError("'username' needs a 'password'")
    if username is None and password is not None:
        raise ValueError("'password' needs a 'username'")
    certfile, keyfile = _file(base, table, "certfile"), _file(base, table, "keyfile")
    perm = READ_WRITE if write else READ_ONLY
    authorizer = DummyAuthorizer()
    if username is not None:
        authorizer.add_user(username, str(password), str(directory.resolve()), perm=perm)
    else:
        with warnings.catch_warnings():  # write access for anonymous users is asked for
            warnings.simplefilter("ignore", RuntimeWarning)
            authorizer.add_anonymous(str(directory.resolve()), perm=perm)
    return Site(
        [str(name), *aliases],
        authorizer,
        banner=_text(table, "banner"),
        certfile=certfile,
        keyfile=keyfile,
    )
