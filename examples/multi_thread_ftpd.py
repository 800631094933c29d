#!/usr/bin/env python3
"""An FTP server with a thread per session, for handler code that blocks.

``ThreadedFTPServer`` accepts connections in its own Trio run and serves each
session in a thread of its own: a handler's plain (not ``async``) callback
or command may then block - a slow database lookup, a blocking library, a
``time.sleep`` - and stall only its own session. Here ``on_login`` does such
a blocking call (it logs the thread it runs on). Prefer the default
``FTPServer`` (one Trio run, blocking work in worker threads) unless your
handler code blocks; see ``docs/servers.md``.

Usage::

    python examples/multi_thread_ftpd.py [PORT [DIRECTORY]]

PORT defaults to ``$FTPD_PORT`` or 2121 (``0``: any free port), DIRECTORY to
``$FTPD_DIR`` or the current directory. Log in as ``user``/``12345``.
Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler
from trioftp.servers import ThreadedFTPServer


class BlockingHandler(FTPHandler):
    def on_login(self, username: str) -> None:
        # A blocking call is fine here: this session has the thread to itself.
        threading.Event().wait(0.01)
        self.log(f"{username} logged in, served by thread {threading.current_thread().name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", nargs="?", type=int, default=os.environ.get("FTPD_PORT", "2121"))
    parser.add_argument("directory", nargs="?", default=os.environ.get("FTPD_DIR", "."))
    args = parser.parse_args()
    directory = os.path.abspath(args.directory)

    authorizer = DummyAuthorizer()
    authorizer.add_user("user", "12345", directory, perm="elradfmwMT")
    BlockingHandler.authorizer = authorizer

    server = ThreadedFTPServer(("127.0.0.1", args.port), BlockingHandler)
    host, port = server.address
    print(f"multi_thread_ftpd: serving {directory} at ftp://{host}:{port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s] %(message)s")
    main()
