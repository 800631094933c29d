"""Users and permissions: a user with full access, one who may only write
into ``incoming/``, and read-only anonymous access."""

import sys
from pathlib import Path

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler
from trioftp.servers import FTPServer


def main(port: int, directory: str) -> None:
    root = Path(directory).resolve()
    (root / "incoming").mkdir(exist_ok=True)

    authorizer = DummyAuthorizer()
    # e: change directory, l: list, r: download,
    # a: append, d: delete, f: rename, m: make directory, w: upload,
    # M: change mode (SITE CHMOD), T: change time (MFMT).
    authorizer.add_user(
        "alice", "wonderland", str(root), perm="elradfmwMT", msg_login="Hello, Alice."
    )
    # Bob reads everywhere, and may upload into incoming/ only.
    authorizer.add_user("bob", "builder", str(root), perm="elr")
    authorizer.override_perm("bob", str(root / "incoming"), perm="elrw")
    # Anyone may log in as "anonymous" (any password) and read.
    authorizer.add_anonymous(str(root))

    handler = FTPHandler
    handler.authorizer = authorizer
    handler.banner = "Users and permissions tutorial."

    server = FTPServer(("127.0.0.1", port), handler)
    host, bound_port = server.address
    print(f"serving {root} on ftp://{host}:{bound_port}/", flush=True)
    server.serve_forever()  # until Ctrl-C


if __name__ == "__main__":
    # python users.py [PORT [DIRECTORY]]; port 0 picks a free one.
    args = sys.argv[1:]
    main(int(args[0]) if args else 2121, args[1] if len(args) > 1 else ".")
