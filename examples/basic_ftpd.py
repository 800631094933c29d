#!/usr/bin/env python3
"""A basic FTP server, written the way pyftpdlib programs are.

Apart from the imports (``trioftp`` instead of ``pyftpdlib``) this is
pyftpdlib's own ``demo/basic_ftpd.py`` pattern: an authorizer with a user and
anonymous access, a handler class configured through class attributes, and
``FTPServer(...).serve_forever()``. Ctrl-C stops it.

Usage::

    python examples/basic_ftpd.py [PORT [DIRECTORY]]

PORT defaults to ``$FTPD_PORT`` or 2121 (``0`` lets the kernel choose one);
DIRECTORY to ``$FTPD_DIR`` or the current directory. The bound address is
printed on stdout, e.g. ``basic_ftpd: serving /srv/ftp at ftp://127.0.0.1:2121/``.
Log in as ``user``/``12345`` (full access) or ``anonymous`` (read-only).
"""

from __future__ import annotations

import logging
import os
import sys

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler
from trioftp.servers import FTPServer


class MyHandler(FTPHandler):
    """Callbacks are plain methods, as in pyftpdlib (they must not block)."""

    def on_login(self, username: str) -> None:
        self.log(f"hello, {username}")

    def on_file_received(self, file: str) -> None:
        self.log(f"received {os.path.basename(file)} ({os.path.getsize(file)} bytes)")


def main(argv: list[str]) -> None:
    port = int(argv[1]) if len(argv) > 1 else int(os.environ.get("FTPD_PORT", "2121"))
    directory = os.path.abspath(argv[2] if len(argv) > 2 else os.environ.get("FTPD_DIR", "."))

    # A virtual user with full read/write permissions, and read-only anonymous.
    authorizer = DummyAuthorizer()
    authorizer.add_user("user", "12345", directory, perm="elradfmwMT")
    authorizer.add_anonymous(directory)

    handler = MyHandler
    handler.authorizer = authorizer
    handler.banner = "trioftp basic_ftpd ready."
    # Passive data connections use these ports (open them in your firewall);
    # behind NAT also set handler.masquerade_address = "public.ip.address".
    handler.passive_ports = range(60000, 65535)

    server = FTPServer(("127.0.0.1", port), handler)
    server.max_cons = 256
    server.max_cons_per_ip = 5

    host, bound_port = server.address
    print(f"basic_ftpd: serving {directory} at ftp://{host}:{bound_port}/", flush=True)
    # Blocks until Ctrl-C (KeyboardInterrupt), then closes every session.
    server.serve_forever()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s] %(message)s")
    main(sys.argv)
