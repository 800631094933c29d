"""Options for the concurrency model and for load balancers (PROXY protocol)."""

from __future__ import annotations

import argparse

from .. import servers
from ..protocol.proxyheader import TrustedProxies
from ..servers import FTPServer

#: ``--concurrency`` (pyftpdlib's names): the name of each model's class in
#: :mod:`trioftp.servers`, looked up when the command runs (as pyftpdlib does,
#: so a program or test that replaces ``servers.FTPServer`` gets its class).
CONCURRENCY_MODELS: dict[str, str] = {
    "async": "FTPServer",
    "pre-fork": "FTPServer",
    "multi-thread": "ThreadedFTPServer",
    "multi-proc": "MultiprocessFTPServer",
}


def add_concurrency_options(parser: argparse.ArgumentParser) -> None:
    """The concurrency model options (docs/servers.md)."""
    models = parser.add_argument_group("concurrency (docs/servers.md)")
    models.add_argument(
        "--concurrency",
        choices=list(CONCURRENCY_MODELS),
        default="async",
        help="async (default): one process, one event loop; pre-fork: several such "
        "processes on one socket; multi-thread: a thread per session; multi-proc: a "
        "process per session",
    )
    models.add_argument(
        "--workers",
        type=int,
        metavar="N",
        default=0,
        help="worker processes for --concurrency pre-fork (default: one per CPU)",
    )


def concurrency(
    parser: argparse.ArgumentParser, options: argparse.Namespace
) -> tuple[type[FTPServer], int | None]:
    """The server class and ``worker_processes`` chosen by --concurrency and --workers."""
    if options.workers and options.concurrency != "pre-fork":
        parser.error("--workers needs --concurrency pre-fork")
    if options.workers < 0:
        parser.error("--workers must be positive")
    workers = (options.workers or None) if options.concurrency == "pre-fork" else 1
    server_class: type[FTPServer] = getattr(servers, CONCURRENCY_MODELS[options.concurrency])
    return server_class, workers


def _proxy_sources(value: str) -> list[str]:
    sources = [part.strip() for part in value.split(",") if part.strip()]
    try:
        TrustedProxies(sources)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return sources


def add_proxy_protocol_options(parser: argparse.ArgumentParser) -> None:
    """Running behind a load balancer that sends the PROXY protocol."""
    group = parser.add_argument_group("behind a load balancer")
    group.add_argument(
        "--proxy-protocol-from",
        type=_proxy_sources,
        action="extend",
        default=[],
        metavar="ADDR[,ADDR...]",
        help="load balancers (addresses or networks) whose connections start with a "
        "PROXY header (v1 or v2) naming the real client; other addresses are served "
        "without one",
    )
