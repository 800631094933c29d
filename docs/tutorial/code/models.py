"""Choosing a concurrency model: the same handler served by each of
``FTPServer`` (async), ``ThreadedFTPServer`` and ``MultiprocessFTPServer``.

The multi-process model starts the handler's module again in a helper
process, so the handler and its settings live at module level."""

import os
import sys
import time

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler
from trioftp.servers import FTPServer, MultiprocessFTPServer, ThreadedFTPServer


class BlockingHandler(FTPHandler):
    authorizer = DummyAuthorizer()
    authorizer.add_user("alice", "wonderland", os.environ.get("FTP_ROOT", "."), perm="elr")

    def on_login(self, username: str) -> None:
        # Blocking code you can't change (a slow database, say). In the async
        # model it would stall every session; in a thread or process of its
        # own, only this one.
        time.sleep(0.1)


SERVERS = {
    "async": FTPServer,
    "multi-thread": ThreadedFTPServer,
    "multi-proc": MultiprocessFTPServer,
}


def main(model: str, port: int) -> None:
    server = SERVERS[model](("127.0.0.1", port), BlockingHandler)
    host, bound_port = server.address
    print(f"serving ({model}) on ftp://{host}:{bound_port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    # FTP_ROOT=DIRECTORY python models.py MODEL [PORT]
    args = sys.argv[1:]
    main(args[0], int(args[1]) if len(args) > 1 else 2121)
