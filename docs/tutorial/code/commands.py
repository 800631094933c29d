"""Custom commands and callbacks: a ``SITE MD5`` command, and callbacks
that report logins and finished uploads."""

import hashlib
import sys

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler
from trioftp.servers import FTPServer


def md5_of_file(path: str) -> str:
    """Blocking: reads the whole file."""
    digest = hashlib.md5()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Handler(FTPHandler):
    # The command table, in pyftpdlib's format: who may run it and its HELP text.
    proto_cmds = FTPHandler.proto_cmds.copy()
    proto_cmds["SITE MD5"] = dict(
        perm="r", auth=True, arg=True, help="Syntax: SITE <SP> MD5 <SP> path (file's MD5)."
    )

    # Because the entry has a perm, the argument arrives as a real path,
    # already checked against the user's home and their "r" permission.
    async def ftp_SITE_MD5(self, path: str) -> None:
        digest = await self.run_blocking(md5_of_file, path)  # in a worker thread
        self.respond(f"200 {digest}")

    # Callbacks: plain methods as in pyftpdlib (they must not block) ...
    def on_login(self, username: str) -> None:
        print(f"login: {username} from {self.remote_ip}", flush=True)

    # ... or async def, awaiting blocking work through the runner.
    async def on_file_received(self, file: str) -> None:
        digest = await self.run_blocking(md5_of_file, file)
        print(f"received: {self.fs.fs2ftp(file)} md5={digest}", flush=True)

    def on_incomplete_file_received(self, file: str) -> None:
        print(f"incomplete: {self.fs.fs2ftp(file)}", flush=True)


def main(port: int, directory: str) -> None:
    Handler.authorizer = DummyAuthorizer()
    Handler.authorizer.add_user("alice", "wonderland", directory, perm="elradfmwMT")
    server = FTPServer(("127.0.0.1", port), Handler)
    host, bound_port = server.address
    print(f"serving {directory} on ftp://{host}:{bound_port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    # python commands.py [PORT [DIRECTORY]]
    args = sys.argv[1:]
    main(int(args[0]) if args else 2121, args[1] if len(args) > 1 else ".")
