"""trioftp inside a Trio program: the server is one task of a nursery,
started with ``nursery.start``, next to the program's other tasks."""

import signal
import sys

import trio

import trioftp
from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler


class Handler(FTPHandler):
    authorizer = DummyAuthorizer()
    uploads: trio.MemorySendChannel[str]  # set in main()

    async def on_file_received(self, file: str) -> None:
        # Hand the file to another task of the program; never blocks the session.
        await self.uploads.send(self.fs.fs2ftp(file))


async def process_uploads(uploads: trio.MemoryReceiveChannel[str]) -> None:
    async for name in uploads:
        print(f"processing {name}", flush=True)


async def stop_on_signal(nursery: trio.Nursery) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            print(f"stopping on {signal.Signals(signum).name}", flush=True)
            # Cancelling the nursery stops the server: sessions end cleanly.
            nursery.cancel_scope.cancel()
            return


async def main(port: int, directory: str) -> None:
    Handler.authorizer.add_user("alice", "wonderland", directory, perm="elradfmwMT")
    send, receive = trio.open_memory_channel[str](100)
    Handler.uploads = send
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop_on_signal, nursery)
        nursery.start_soon(process_uploads, receive)
        # start() returns once the server listens: its (host, port).
        host, bound_port = await nursery.start(trioftp.serve, Handler, "127.0.0.1", port)
        print(f"serving {directory} on ftp://{host}:{bound_port}/", flush=True)


if __name__ == "__main__":
    # python nursery.py [PORT [DIRECTORY]]
    args = sys.argv[1:]
    trio.run(main, int(args[0]) if args else 2121, args[1] if len(args) > 1 else ".")
