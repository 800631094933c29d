#!/usr/bin/env python3
"""An FTP server for the machine's own accounts (PAM passwords), acting as each user.

``UnixAuthorizer`` logs in the system's users with their own passwords
(checked by PAM) and runs every file operation of a session in threads that
are that user (uid, gid and groups), so the kernel decides what a user may
touch and the files a user uploads belong to that user. ``UnixFilesystem``
shows the real tree, starting in the user's home, with no jail. ``root`` is
refused, and so is an account whose shell is not in ``/etc/shells``.

Runs as root (it switches to the users); needs the ``trioftp[unix]`` extra
(python-pam). See ``docs/unix-users.md``.

Usage::

    sudo python examples/unix_ftpd.py [PORT] [--pam-service NAME]

PORT defaults to ``$FTPD_PORT`` or 21 (``0``: any free port); the PAM
service (a file of ``/etc/pam.d``) to ``$FTPD_PAM_SERVICE`` or ``login``.
Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import logging
import os

from trioftp.authorizers import UnixAuthorizer
from trioftp.filesystems import UnixFilesystem
from trioftp.handlers import FTPHandler
from trioftp.servers import FTPServer


def make_handler(pam_service: str) -> type[FTPHandler]:
    """A handler class for the system's accounts, checking passwords with *pam_service*."""
    authorizer = UnixAuthorizer(
        rejected_users=["root"], require_valid_shell=True, pam_service=pam_service
    )
    attributes = {"authorizer": authorizer, "abstracted_fs": UnixFilesystem}
    return type("Handler", (FTPHandler,), attributes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", nargs="?", type=int, default=os.environ.get("FTPD_PORT", "21"))
    parser.add_argument("--pam-service", default=os.environ.get("FTPD_PAM_SERVICE", "login"))
    args = parser.parse_args()

    server = FTPServer(("127.0.0.1", args.port), make_handler(args.pam_service))
    host, port = server.address
    print(f"unix_ftpd: serving the system's accounts at ftp://{host}:{port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s] %(message)s")
    main()
