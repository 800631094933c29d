"""Hashes and atomic uploads: clients check files with ``HASH`` (or XMD5,
XSHA256, ...), and an upload appears under its name only when complete."""

import sys

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler
from trioftp.servers import FTPServer


def main(port: int, directory: str) -> None:
    authorizer = DummyAuthorizer()
    authorizer.add_user("alice", "wonderland", directory, perm="elradfmwMT")

    handler = FTPHandler
    handler.authorizer = authorizer
    # Uploads go to a hidden partial file, renamed onto the target when
    # complete: a download never sees half a file, and a broken upload can
    # be resumed (REST + STOR) from the partial file.
    handler.atomic_uploads = True
    handler.atomic_upload_expiry = 24 * 3600  # unresumed partial files, removed
    # Hash uploads as they are written, so HASH right after needs no read.
    handler.hash_uploads = True
    handler.hash_max_size = 1 << 30  # most bytes one hash command may read

    server = FTPServer(("127.0.0.1", port), handler)
    host, bound_port = server.address
    print(f"serving {directory} on ftp://{host}:{bound_port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    # python uploads.py [PORT [DIRECTORY]]
    args = sys.argv[1:]
    main(int(args[0]) if args else 2121, args[1] if len(args) > 1 else ".")
