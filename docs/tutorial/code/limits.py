"""Throttling and limits: bandwidth per session, connections per server and
per address, an idle timeout, failed logins, and bans."""

import sys

from trioftp.authorizers import DummyAuthorizer
from trioftp.handlers import FTPHandler, ThrottledDTPHandler
from trioftp.servers import BanPolicy, Bans, FTPServer


def main(port: int, directory: str) -> None:
    authorizer = DummyAuthorizer()
    authorizer.add_user("alice", "wonderland", directory, perm="elradfmwMT")

    # Each session's transfers: at most 1 MiB/s down and 256 KiB/s up.
    dtp_handler = ThrottledDTPHandler
    dtp_handler.read_limit = 256 * 1024  # bytes per second received (uploads)
    dtp_handler.write_limit = 1024 * 1024  # bytes per second sent (downloads)

    handler = FTPHandler
    handler.authorizer = authorizer
    handler.dtp_handler = dtp_handler
    handler.timeout = 120  # idle seconds between commands before 421
    handler.max_login_attempts = 2  # failed logins before disconnecting

    # Five failed logins within ten minutes ban an address for an hour
    # (loopback never: a local monitoring script can't lock itself out).
    bans = Bans(BanPolicy(max_login_failures=5, window=600, ban_time=3600, allow=("::1",)))

    server = FTPServer(("127.0.0.1", port), handler, bans=bans)
    server.max_cons = 100  # sessions in all
    server.max_cons_per_ip = 2  # sessions from one address
    host, bound_port = server.address
    print(f"serving {directory} on ftp://{host}:{bound_port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    # python limits.py [PORT [DIRECTORY]]
    args = sys.argv[1:]
    main(int(args[0]) if args else 2121, args[1] if len(args) > 1 else ".")
