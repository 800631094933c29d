"""Virtual hosts: two sites on one port, each with its own users and files.
Clients choose one with ``HOST`` (RFC 7151) before logging in."""

import sys
from pathlib import Path

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler
from trioftp.servers import FTPServer
from trioftp.session.sites import Site, SiteTable


def main(port: int, directory: str) -> None:
    root = Path(directory).resolve()
    for name in ("default", "a", "b"):
        (root / name).mkdir(parents=True, exist_ok=True)

    default_users = DummyAuthorizer()  # sessions that send no HOST
    default_users.add_anonymous(str(root / "default"))
    users_a = DummyAuthorizer()
    users_a.add_user("alice", "wonderland", str(root / "a"), perm="elradfmwMT")
    users_b = DummyAuthorizer()
    users_b.add_user("alice", "another password", str(root / "b"), perm="elr")

    handler = FTPHandler
    handler.authorizer = default_users
    handler.sites = SiteTable(
        [
            Site(["ftp.a.example", "a.example"], users_a, banner="Welcome to A."),
            Site("ftp.b.example", users_b, settings={"max_login_attempts": 1}),
        ]
    )

    server = FTPServer(("127.0.0.1", port), handler)
    host, bound_port = server.address
    print(f"serving {root} on ftp://{host}:{bound_port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    # python vhosts.py [PORT [DIRECTORY]]
    args = sys.argv[1:]
    main(int(args[0]) if args else 2121, args[1] if len(args) > 1 else ".")
