"""Object storage: users see a store instead of a directory. Here an
in-memory store; ``storage_from_url("s3://bucket/prefix")`` gives S3."""

import sys

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler
from trioftp.servers import FTPServer
from trioftp.storage import MemoryFS, storage_from_url


def main(port: int, url: str | None = None) -> None:
    handler = FTPHandler
    if url is None:
        handler.abstracted_fs = MemoryFS.new_store()  # starts empty, gone on exit
        handler.abstracted_fs.storage.pipe_file("/welcome.txt", b"Hello from memory.\n")
    else:
        handler.abstracted_fs = storage_from_url(url)  # s3://bucket/prefix, file:///...
    authorizer = DummyAuthorizer()
    # Homes are paths inside the store, not on the disk.
    authorizer.add_user("alice", "wonderland", "/", perm="elradfmwMT")
    handler.authorizer = authorizer

    server = FTPServer(("127.0.0.1", port), handler)
    host, bound_port = server.address
    print(f"serving {url or 'memory'} on ftp://{host}:{bound_port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    # python storage.py [PORT [URL]]
    args = sys.argv[1:]
    main(int(args[0]) if args else 2121, args[1] if len(args) > 1 else None)
