#!/usr/bin/env python3
"""An FTP server with a process per session (POSIX), for handler code that blocks or crashes.

``MultiprocessFTPServer`` accepts connections in its own Trio run and serves
each session in a process of its own, forked from a clean helper process
(never from the server, which runs threads). A session may block, use a
library that is not thread-safe, or crash, without touching the server or
the other sessions. Each process rebuilds the handler class: define it at
the top level of an importable module (or with ``type()``) and give it data
attributes that pickle (an authorizer does). See ``docs/servers.md``.

Usage::

    python examples/multi_proc_ftpd.py [PORT [DIRECTORY]]

PORT defaults to ``$FTPD_PORT`` or 2121 (``0``: any free port), DIRECTORY to
``$FTPD_DIR`` or the current directory. Log in as ``user``/``12345``.
Ctrl-C or SIGTERM stops it and every session process.
"""

from __future__ import annotations

import argparse
import logging
import os

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler
from trioftp.servers import MultiprocessFTPServer


class ProcessPerSessionHandler(FTPHandler):
    def on_login(self, username: str) -> None:
        self.log(f"{username} logged in, served by process {os.getpid()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", nargs="?", type=int, default=os.environ.get("FTPD_PORT", "2121"))
    parser.add_argument("directory", nargs="?", default=os.environ.get("FTPD_DIR", "."))
    args = parser.parse_args()
    directory = os.path.abspath(args.directory)

    authorizer = DummyAuthorizer()
    authorizer.add_user("user", "12345", directory, perm="elradfmwMT")
    ProcessPerSessionHandler.authorizer = authorizer

    server = MultiprocessFTPServer(("127.0.0.1", args.port), ProcessPerSessionHandler)
    host, port = server.address
    print(
        f"multi_proc_ftpd: serving {directory} at ftp://{host}:{port}/ (pid {os.getpid()})",
        flush=True,
    )
    server.serve_forever()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s] %(message)s")
    main()
