#!/usr/bin/env python3
"""An FTP server that bans clients flooding it with commands, on ``trioftp.ioloop``.

The pyftpdlib way of running code on a timer: a handler asks its loop
(``self.ioloop``) for ``call_every(1, ...)`` when the session starts, counts
the commands it processes (``process_command``), and a client that sent more
than ``--max-commands`` in the last second is answered ``550`` and
disconnected. Its address is then refused at connect for ``--ban-for``
seconds; the unban is another ioloop call (``call_later``). Timers run on
the server's Trio run, between the sessions' steps, so they need no locks.

(trioftp also has a built-in ban policy, ``FTPServer.bans`` and the
``trioftp --ban-*`` options; this example shows how to write one yourself.)

Usage::

    python examples/anti_flood_ftpd.py [PORT [DIRECTORY]] [--max-commands N] [--ban-for SECONDS]

PORT defaults to ``$FTPD_PORT`` or 2121 (``0``: any free port), DIRECTORY to
``$FTPD_DIR`` or the current directory. Log in as ``user``/``12345`` or
``anonymous``. Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any, ClassVar

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler
from trioftp.servers import FTPServer


class AntiFloodHandler(FTPHandler):
    """Counts commands per second; bans the address of a client over the limit."""

    #: Most commands a client may send in one second.
    max_commands_per_second: ClassVar[int] = 300
    #: Seconds a flooding address stays banned.
    ban_for: ClassVar[float] = 3600
    #: The banned addresses, shared by every session of the server.
    banned_ips: ClassVar[set[str]] = set()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands_this_second = 0
        self.flood_check = self.ioloop.call_every(1, self.check_flood)

    def on_connect(self) -> None:
        if self.remote_ip in self.banned_ips:
            self.respond("550 You are banned.")
            self.close_when_done()

    def process_command(self, cmd: str, *args: Any, **kwargs: Any) -> None:
        self.commands_this_second += 1
        super().process_command(cmd, *args, **kwargs)

    def check_flood(self) -> None:
        """Runs every second: ban this client if it sent too much, else start counting again."""
        if self.commands_this_second > self.max_commands_per_second:
            self.ban(self.remote_ip)
        self.commands_this_second = 0

    def ban(self, ip: str) -> None:
        if ip not in self.banned_ips:
            self.banned_ips.add(ip)
            self.log(f"banned IP {ip} for command flooding")
            # The class, not the session, lifts the ban: the session is gone by then.
            self.ioloop.call_later(self.ban_for, lift_ban, type(self), ip)
        self.respond(f"550 You are banned for {self.ban_for:g} seconds.")
        self.close()

    def close(self) -> None:
        super().close()
        if not self.flood_check.cancelled:
            self.flood_check.cancel()


def lift_ban(handler: type[AntiFloodHandler], ip: str) -> None:
    handler.banned_ips.discard(ip)
    logging.getLogger("trioftp").info("unbanned IP %s", ip)


def make_handler(directory: str, max_commands: int, ban_for: float) -> type[AntiFloodHandler]:
    """A handler class serving *directory* with its own ban list."""
    authorizer = DummyAuthorizer()
    authorizer.add_user("user", "12345", directory, perm="elradfmwMT")
    authorizer.add_anonymous(directory)
    attributes = {
        "authorizer": authorizer,
        "max_commands_per_second": max_commands,
        "ban_for": ban_for,
        "banned_ips": set(),
    }
    return type("Handler", (AntiFloodHandler,), attributes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", nargs="?", type=int, default=os.environ.get("FTPD_PORT", "2121"))
    parser.add_argument("directory", nargs="?", default=os.environ.get("FTPD_DIR", "."))
    parser.add_argument("--max-commands", type=int, default=300, help="per second (300)")
    parser.add_argument("--ban-for", type=float, default=3600, help="seconds (3600)")
    args = parser.parse_args()
    directory = os.path.abspath(args.directory)

    handler = make_handler(directory, args.max_commands, args.ban_for)
    server = FTPServer(("127.0.0.1", args.port), handler)
    host, port = server.address
    print(f"anti_flood_ftpd: serving {directory} at ftp://{host}:{port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s] %(message)s")
    main()
