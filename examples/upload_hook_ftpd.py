#!/usr/bin/env python3
"""An FTP server that processes every uploaded file as it arrives, in a Trio task.

The handler's ``on_file_received`` callback is ``async``: it hands the path
of each completed upload to a processing task over a bounded memory channel
(when processing falls behind, the uploading sessions wait: back-pressure,
not an unbounded queue). The processor computes the file's SHA-256 in a
worker thread (hashing blocks), writes it next to the file as ``NAME.sha256``
in ``sha256sum`` format, and prints ``processed NAME SHA256`` on stdout. An
upload that did not complete (``on_incomplete_file_received``) is logged and
left out. Replace ``process()`` with your own work: a virus scan, a
thumbnail, a message to a queue.

Usage::

    python examples/upload_hook_ftpd.py [PORT [DIRECTORY]]

PORT defaults to ``$FTPD_PORT`` or 2121 (``0``: any free port), DIRECTORY to
``$FTPD_DIR`` or the current directory. Log in as ``user``/``12345``.
Ctrl-C or SIGTERM stops it, after the uploads already received are processed.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import signal

import trio

import trioftp
from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler

logger = logging.getLogger("trioftp.example")


class UploadHookHandler(FTPHandler):
    """Sends the path of every completed upload to :func:`process_uploads`."""

    arrivals: trio.MemorySendChannel[str]

    async def on_file_received(self, file: str) -> None:
        await self.arrivals.send(file)

    def on_incomplete_file_received(self, file: str) -> None:
        logger.warning("incomplete upload left unprocessed: %s", os.path.basename(file))


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


async def process(path: str) -> None:
    """The work done on each upload: a ``NAME.sha256`` file beside it."""
    digest = await trio.to_thread.run_sync(sha256_of, path)
    name = os.path.basename(path)
    await trio.Path(f"{path}.sha256").write_text(f"{digest}  {name}\n")
    print(f"processed {name} {digest}", flush=True)


async def process_uploads(arrivals: trio.MemoryReceiveChannel[str]) -> None:
    async for path in arrivals:
        try:
            await process(path)
        except OSError as exc:  # e.g. the client deleted the file meanwhile
            logger.error("could not process %s: %s", path, exc)


async def main(port: int, directory: str) -> None:
    authorizer = DummyAuthorizer()
    authorizer.add_user("user", "12345", directory, perm="elradfmwMT")
    send, receive = trio.open_memory_channel[str](8)
    handler = type("Handler", (UploadHookHandler,), {"authorizer": authorizer, "arrivals": send})

    # Signals are caught from here on, before the address is printed.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(process_uploads, receive)
            async with trio.open_nursery() as server_nursery:
                host, bound_port = await server_nursery.start(
                    trioftp.serve, handler, "127.0.0.1", port
                )
                shown = f"[{host}]" if ":" in host else host
                print(
                    f"upload_hook_ftpd: serving {directory} at ftp://{shown}:{bound_port}/",
                    flush=True,
                )
                async for _ in signals:
                    server_nursery.cancel_scope.cancel()
                    break
            # The server is down: nothing more arrives; the processor drains the channel.
            await send.aclose()
    logger.info("server stopped")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s] %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", nargs="?", type=int, default=os.environ.get("FTPD_PORT", "2121"))
    parser.add_argument("directory", nargs="?", default=os.environ.get("FTPD_DIR", "."))
    args = parser.parse_args()
    trio.run(main, args.port, os.path.abspath(args.directory))
