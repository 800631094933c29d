"""A real S3 API server for tests: moto's, on loopback, on a free port.

:func:`s3_server` starts moto's standalone server (``moto[server]``) in a
thread of the test process and yields an :class:`S3Endpoint`: its URL, the
credentials it accepts, an ``s3fs`` filesystem talking to it, and
:meth:`~S3Endpoint.new_bucket` for a fresh, empty bucket. The server keeps
everything in memory and is stopped when the context ends.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
from collections.abc import Iterator
from typing import Any

import attrs

ACCESS_KEY, SECRET_KEY, REGION = "testing-key", "testing-secret", "us-east-1"

_buckets = itertools.count(1)


@attrs.define
class S3Endpoint:
    """A running S3 server: where it is, and how to reach it as a client."""

    url: str

    def environment(self) -> dict[str, str]:
        """The variables that point boto, s3fs (and ``trioftp --storage``) at this server."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.url,
        }

    def filesystem(self, **options: Any) -> Any:
        """A new ``s3fs.S3FileSystem`` on this server, with no listing cache."""
        import s3fs  # noqa: PLC0415 (only the storage tests need it)

        return s3fs.S3FileSystem(
            key=ACCESS_KEY,
            secret=SECRET_KEY,
            endpoint_url=self.url,
            use_listings_cache=False,
            skip_instance_cache=True,
            **options,
        )

    def new_bucket(self) -> str:
        """Create a new, empty bucket and return its name."""
        name = f"test-bucket-{os.getpid()}-{next(_buckets)}"
        self.filesystem().mkdir(name)
        return name


@contextlib.contextmanager
def s3_server() -> Iterator[S3Endpoint]:
    """Run moto's S3 server on 127.0.0.1 (a free port) for the duration of the context."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Endpoint(f"http://{host}:{port}")
    finally:
        server.stop()
