#!/usr/bin/env python3
"""An FTP server that limits the speed of downloads and uploads.

``ThrottledDTPHandler`` is the data-channel class of pyftpdlib's API with a
``read_limit`` (uploads) and a ``write_limit`` (downloads), in bytes per
second per transfer; a handler uses it through its ``dtp_handler``
attribute. (trioftp can also cap the whole server, ``FTPServer.max_download_rate``
/ ``max_upload_rate``, and each user of a users file: ``docs/users-and-limits.md``.)

Usage::

    python examples/throttled_ftpd.py [PORT [DIRECTORY]] [--rate BYTES_PER_SECOND]

PORT defaults to ``$FTPD_PORT`` or 2121 (``0``: any free port), DIRECTORY to
``$FTPD_DIR`` or the current directory, the rate to 30 KiB/s each way. Log
in as ``user``/``12345`` or ``anonymous``. Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import logging
import os

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler, ThrottledDTPHandler
from trioftp.servers import FTPServer


def make_handler(directory: str, rate: int) -> type[FTPHandler]:
    """A handler class serving *directory*, each transfer at *rate* bytes per second at most."""
    authorizer = DummyAuthorizer()
    authorizer.add_user("user", "12345", directory, perm="elradfmwMT")
    authorizer.add_anonymous(directory)
    # Subclasses, so that the limits are this server's and not every ThrottledDTPHandler's.
    dtp_handler = type(
        "ThrottledData", (ThrottledDTPHandler,), {"read_limit": rate, "write_limit": rate}
    )
    return type("Handler", (FTPHandler,), {"authorizer": authorizer, "dtp_handler": dtp_handler})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", nargs="?", type=int, default=os.environ.get("FTPD_PORT", "2121"))
    parser.add_argument("directory", nargs="?", default=os.environ.get("FTPD_DIR", "."))
    parser.add_argument("--rate", type=int, default=30 * 1024, help="bytes/s (30 KiB)")
    args = parser.parse_args()
    directory = os.path.abspath(args.directory)

    server = FTPServer(("127.0.0.1", args.port), make_handler(directory, args.rate))
    host, port = server.address
    print(
        f"throttled_ftpd: serving {directory} at ftp://{host}:{port}/ ({args.rate} bytes/s)",
        flush=True,
    )
    server.serve_forever()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s] %(message)s")
    main()
