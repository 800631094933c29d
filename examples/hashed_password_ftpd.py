#!/usr/bin/env python3
"""An FTP server whose users' passwords are stored as Argon2id hashes, never in clear.

pyftpdlib's ``demo/md5_ftpd.py`` kept MD5 digests, which are cracked in
seconds today. Here ``DummyAuthorizer`` keeps an Argon2id hash (a salted,
deliberately slow and memory-hard hash) in each user's ``pwd`` field, and
``validate_authentication`` checks a password with
``trioftp.passwords.verify_password``. The session calls it in a worker
thread, so a slow check never stalls the other sessions. Needs the
``trioftp[argon2]`` extra (argon2-cffi).

Make a hash with ``trioftp passwd`` or
``python -c 'from trioftp.passwords import hash_password; print(hash_password("secret"))'``.

Usage::

    python examples/hashed_password_ftpd.py [PORT [DIRECTORY]] [--user NAME:HASH ...]

PORT defaults to ``$FTPD_PORT`` or 2121 (``0``: any free port), DIRECTORY to
``$FTPD_DIR`` or the current directory. Without ``--user`` there is one user,
``user``, whose password ``12345`` is hashed at start. Anonymous users get
read-only access. Ctrl-C or SIGTERM stops it.

(For a file of users with hashed passwords, permissions and limits, reloaded
on SIGHUP, use ``trioftp --users-file``: see ``docs/users-and-limits.md``.)
"""

from __future__ import annotations

import argparse
import logging
import os

from trioftp.authorizers import DummyAuthorizer
from trioftp.exceptions import AuthenticationFailed
from trioftp.handlers import FTPHandler
from trioftp.passwords import UnsupportedHash, check_hash, hash_password, verify_password
from trioftp.servers import FTPServer


class HashedPasswordAuthorizer(DummyAuthorizer):
    """A ``DummyAuthorizer`` whose ``password`` arguments are hashes (argon2id, bcrypt, scrypt)."""

    def validate_authentication(self, username: str, password: str, handler: object) -> None:
        if username == "anonymous":
            super().validate_authentication(username, password, handler)
            return
        user = self.user_table.get(username)
        # An unknown user costs a hash check too, so timing does not tell who exists.
        hashed = user["pwd"] if user is not None else DUMMY_HASH
        if not verify_password(hashed, password) or user is None:
            raise AuthenticationFailed("Authentication failed.")


DUMMY_HASH = hash_password("not a password of anyone")


def make_handler(directory: str, users: dict[str, str]) -> type[FTPHandler]:
    """A handler class serving *directory* to *users* (name: hash), and read-only to anonymous."""
    authorizer = HashedPasswordAuthorizer()
    for name, hashed in users.items():
        authorizer.add_user(name, hashed, directory, perm="elradfmwMT")
    authorizer.add_anonymous(directory)
    return type("Handler", (FTPHandler,), {"authorizer": authorizer})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", nargs="?", type=int, default=os.environ.get("FTPD_PORT", "2121"))
    parser.add_argument("directory", nargs="?", default=os.environ.get("FTPD_DIR", "."))
    parser.add_argument(
        "--user", action="append", default=[], metavar="NAME:HASH", help="a user and its hash"
    )
    args = parser.parse_args()
    directory = os.path.abspath(args.directory)
    users: dict[str, str] = {}
    for entry in args.user:
        name, _, hashed = entry.partition(":")
        try:
            check_hash(hashed)  # a wrong hash fails here, not as "530" at every login
        except UnsupportedHash as exc:
            parser.error(f"--user {name}: {exc}")
        users[name] = hashed
    handler = make_handler(directory, users or {"user": hash_password("12345")})

    server = FTPServer(("127.0.0.1", args.port), handler)
    host, port = server.address
    print(f"hashed_password_ftpd: serving {directory} at ftp://{host}:{port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s] %(message)s")
    main()
