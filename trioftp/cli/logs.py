"""Options for the log (format, file) and Prometheus metrics (docs/operations.md)."""

from __future__ import annotations

import argparse
import logging

from ..auditevent import host_port
from ..logformats import LOG_FORMATS, configure_logging
from ..servers import FTPServer
from ..servers.metrics import MetricsEndpoint, PrometheusMetrics


def add_logging_options(parser: argparse.ArgumentParser) -> None:
    """The log format, log file and metrics options."""
    group = parser.add_argument_group("logging and metrics")
    group.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="line",
        help="line: pyftpdlib's lines (default); json: one JSON object per line; "
        "xferlog: the classic transfer log, written to --log-file (the line log "
        "stays on stderr)",
    )
    group.add_argument(
        "--log-file", metavar="PATH", help="write the log there instead of stderr (appended)"
    )
    group.add_argument(
        "--metrics",
        type=_metrics_address,
        metavar="HOST:PORT",
        help="serve Prometheus metrics on http://HOST:PORT/metrics "
        "(needs the metrics extra: pip install 'trioftp[metrics]')",
    )


def _metrics_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(
            f"invalid metrics address {value!r} (expected HOST:PORT, e.g. 127.0.0.1:9100)"
        )
    return host, int(port)


def start_logging(options: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Set up the log as the logging options ask (one-line errors)."""
    if options.log_format == "xferlog" and options.log_file is None:
        parser.error("--log-format xferlog needs --log-file")
    level = logging.DEBUG if options.debug else logging.INFO
    try:
        configure_logging(options.log_format, options.log_file, level)
    except OSError as exc:
        parser.error(f"can't write the log file {options.log_file!r}: {exc.strerror}")


def start_metrics(options: argparse.Namespace, server: FTPServer) -> MetricsEndpoint | None:
    """Serve the server's metrics if ``--metrics`` asks; print where (None if not asked)."""
    if options.metrics is None:
        return None
    host, port = options.metrics
    endpoint = PrometheusMetrics.for_server(server).serve(host, port)
    shown = host_port(*endpoint.address)
    print(f"trioftp: Prometheus metrics at http://{shown}/metrics", flush=True)
    return endpoint
