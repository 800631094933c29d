#!/usr/bin/env python3
"""An FTP server whose files live in an S3 bucket (or any S3-compatible store).

``FsspecFS.configured(store, root)`` makes a filesystem class that serves
the fsspec filesystem *store* under *root*: here an ``s3fs.S3FileSystem``
and ``BUCKET/PREFIX``. Uploads stream to the bucket as multipart uploads,
downloads are ranged reads, listings are object listings; no file touches
the local disk. Needs the ``trioftp[s3]`` extra (fsspec and s3fs). See
``docs/storage.md`` (and ``trioftp --storage s3://...`` for the same from the
command line).

Credentials, region and endpoint come from the environment as boto reads
them: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``,
``AWS_DEFAULT_REGION``, and ``AWS_ENDPOINT_URL`` for MinIO, Ceph or moto.

Usage::

    python examples/s3_ftpd.py [PORT] BUCKET[/PREFIX]

PORT defaults to ``$FTPD_PORT`` or 2121 (``0``: any free port); the bucket
path to ``$FTPD_S3_ROOT``. Log in as ``user``/``12345`` (read-write) or
``anonymous`` (read-only). Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import s3fs

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler
from trioftp.servers import FTPServer
from trioftp.storage import FsspecFS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", nargs="?", type=int, default=os.environ.get("FTPD_PORT", "2121"))
    parser.add_argument("root", nargs="?", default=os.environ.get("FTPD_S3_ROOT"))
    args = parser.parse_args()
    if not args.root:
        parser.error("give the bucket (BUCKET or BUCKET/PREFIX), or set FTPD_S3_ROOT")

    # endpoint_url=None: boto's own lookup (AWS_ENDPOINT_URL, ~/.aws/config, AWS itself).
    store = s3fs.S3FileSystem(endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
    try:
        store.ls(args.root.split("/", 1)[0])  # fail now, not at the first login
    except (OSError, ValueError) as exc:
        sys.exit(f"s3_ftpd: cannot list {args.root}: {exc}")

    # The authorizer's home is only each user's starting point: every user sees
    # the bucket path as "/" (FsspecFS.configured(..., user_homes=True) separates them).
    authorizer = DummyAuthorizer()
    authorizer.add_user("user", "12345", "/", perm="elradfmwMT")
    authorizer.add_anonymous("/")
    attributes = {"authorizer": authorizer, "abstracted_fs": FsspecFS.configured(store, args.root)}
    handler = type("Handler", (FTPHandler,), attributes)

    server = FTPServer(("127.0.0.1", args.port), handler)
    host, port = server.address
    print(f"s3_ftpd: serving s3://{args.root} at ftp://{host}:{port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s] %(message)s")
    main()
