"""Start one FTP server for the benchmark: trioftp or pyftpdlib, configured alike.

Both get the same user, home directory, passive port range and listen
backlog, no per-session logging, and (with ``--certfile``) FTPS. The script
prints ``READY <port>`` once the server listens and serves until SIGTERM.

    python benchmarks/ftpserver.py trioftp --home DIR --port 0 --passive 50000-50999

``--profile FILE`` runs the server under cProfile (the main thread: the
event loop) and writes the stats to FILE when it stops.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib
import logging
import signal
import sys
from types import FrameType
from typing import NoReturn


def _stop(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("implementation", choices=["trioftp", "pyftpdlib"])
    parser.add_argument("--home", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--passive", default="50000-50999")
    parser.add_argument("--backlog", type=int, default=1024)
    parser.add_argument("--certfile")
    parser.add_argument(
        "--hash-uploads", metavar="ALGORITHM", help="trioftp: hash uploads in this algorithm"
    )
    parser.add_argument(
        "--concurrency",
        choices=["async", "pre-fork", "multi-thread", "multi-proc"],
        default="async",
        help="the concurrency model (pyftpdlib's names)",
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes for pre-fork")
    parser.add_argument(
        "--no-splice", action="store_true", help="trioftp: buffered uploads only, no os.splice"
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="run under cProfile and write its stats here on exit"
    )
    options = parser.parse_args()
    first, last = (int(part) for part in options.passive.split("-"))

    package = options.implementation
    authorizers = importlib.import_module(f"{package}.authorizers")
    handlers = importlib.import_module(f"{package}.handlers")
    servers = importlib.import_module(f"{package}.servers")

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger(package).setLevel(logging.WARNING)
    authorizer = authorizers.DummyAuthorizer()
    authorizer.add_user("bench", "bench", options.home, perm="elradfmwMT")
    base = handlers.TLS_FTPHandler if options.certfile else handlers.FTPHandler
    attributes: dict[str, object] = {
        "authorizer": authorizer,
        "passive_ports": range(first, last + 1),
        "auth_failed_timeout": 0,
    }
    if options.certfile:
        attributes["certfile"] = options.certfile
    if options.hash_uploads:
        attributes["hash_uploads"] = True
        attributes["hash_algorithm"] = options.hash_uploads
    if options.no_splice:
        dtp_base = handlers.TLS_DTPHandler if options.certfile else handlers.DTPHandler
        attributes["dtp_handler"] = type("BufferedDTPHandler", (dtp_base,), {"use_splice": False})
    handler = type("BenchHandler", (base,), attributes)
    server_class = {
        "async": servers.FTPServer,
        "pre-fork": servers.FTPServer,
        "multi-thread": servers.ThreadedFTPServer,
        "multi-proc": servers.MultiprocessFTPServer,
    }[options.concurrency]
    workers = options.workers if options.concurrency == "pre-fork" else 1
    server = server_class(("127.0.0.1", options.port), handler, backlog=options.backlog)
    server.max_cons = 100_000
    server.max_cons_per_ip = 0
    print(f"READY {server.socket.getsockname()[1]}", flush=True)
    signal.signal(signal.SIGTERM, _stop)
    profiler = cProfile.Profile() if options.profile else None
    with contextlib.suppress(KeyboardInterrupt):
        if profiler is not None:
            profiler.enable()
        server.serve_forever(handle_exit=False, worker_processes=workers)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(options.profile)


if __name__ == "__main__":
    main()
