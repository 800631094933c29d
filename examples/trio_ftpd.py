#!/usr/bin/env python3
"""An FTP server inside a Trio program.

``trioftp.serve`` is an ordinary Trio task: start it in a nursery with
``await nursery.start(...)`` to get the bound address back once it accepts
connections, run other tasks beside it, and cancel the nursery to stop it;
cancellation closes every session and data connection. Callbacks may be
``async def`` and await anything (here: the end of every upload is sent to
another task over a memory channel).

Usage::

    python examples/trio_ftpd.py [PORT [DIRECTORY]]

PORT defaults to ``$FTPD_PORT`` or 2121 (``0`` lets the kernel choose one);
DIRECTORY to ``$FTPD_DIR`` or the current directory. The bound address is
printed on stdout. Log in as ``user``/``12345``. Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

import trio

import trioftp
from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler

logger = logging.getLogger("trioftp.example")


class UploadWatchingHandler(FTPHandler):
    """Reports every completed upload on a memory channel."""

    uploads: trio.MemorySendChannel[str]

    async def on_file_received(self, file: str) -> None:
        await self.uploads.send(file)


async def report_uploads(uploads: trio.MemoryReceiveChannel[str]) -> None:
    async for path in uploads:
        logger.info("upload finished: %s", os.path.basename(path))


async def stop_on_signal(cancel_scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            logger.info("%s received, stopping", signal.Signals(signum).name)
            cancel_scope.cancel()
            return


async def main(port: int, directory: str) -> None:
    authorizer = DummyAuthorizer()
    authorizer.add_user("user", "12345", directory, perm="elradfmwMT")
    send, receive = trio.open_memory_channel[str](16)
    handler = type(
        "Handler",
        (UploadWatchingHandler,),
        {"authorizer": authorizer, "uploads": send, "banner": "trioftp trio_ftpd ready."},
    )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop_on_signal, nursery.cancel_scope)
        nursery.start_soon(report_uploads, receive)
        host, bound_port = await nursery.start(trioftp.serve, handler, "127.0.0.1", port)
        shown = f"[{host}]" if ":" in host else host
        print(f"trio_ftpd: serving {directory} at ftp://{shown}:{bound_port}/", flush=True)
        # The nursery now waits for its tasks: the server runs until cancelled.
    logger.info("server stopped")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s] %(message)s")
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("FTPD_PORT", "2121"))
    directory = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("FTPD_DIR", ".")
    trio.run(main, port, os.path.abspath(directory))
