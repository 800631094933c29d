"""Prometheus metrics of a server: an observer of its sessions' events.

Needs the ``metrics`` extra (``pip install 'trioftp[metrics]'``):
``prometheus_client`` is imported only when metrics are made. Each
:class:`PrometheusMetrics` has its own registry (not the library's global
one), so several servers in one process, and tests, never collide::

    metrics = PrometheusMetrics.for_server(server)   # add_observer, thread gauge
    endpoint = metrics.serve("127.0.0.1", 9100)      # GET /metrics, in a thread
    ...
    endpoint.close()

The figures (names without the ``trioftp_`` prefix):

* ``sessions`` (gauge: open now), ``sessions_opened_total``;
* ``logins_total{outcome="success|failure"}``;
* ``commands_total{command, code}``: the command's verb from the command
  table (anything else is ``other``) and its last reply's code;
* ``transfers_total`` and ``transfer_bytes_total`` ``{direction="received|sent",
  outcome="completed|failed"}``; ``transfers_in_progress`` (gauge);
  ``transfer_duration_seconds{direction}`` (histogram);
* ``blocking_calls_in_progress`` (gauge: worker threads busy now);
* ``tls_handshakes_total{channel="control|data", outcome="success|failure"}``.

With ``worker_processes`` other than 1 each process counts its own sessions:
serve metrics from a single-process server.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, Self

import attrs

from ..protocol.commands import COMMANDS, TLS_COMMANDS
from ..session.events import Observer, TransferRecord
from ..session.runner import ThreadRunner

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client import CollectorRegistry

    from .runtime import FTPServer

__all__ = ["MetricsEndpoint", "PrometheusMetrics", "load_prometheus_client"]

#: Transfer durations are seconds to hours: buckets from 10 ms to 30 min.
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)

_KNOWN_VERBS = frozenset(COMMANDS) | frozenset(TLS_COMMANDS)


def load_prometheus_client() -> ModuleType:
    """Import ``prometheus_client``; a clear ImportError if the extra is missing."""
    try:
        return importlib.import_module("prometheus_client")
    except ImportError as exc:
        raise ImportError("metrics need prometheus-client: pip install 'trioftp[metrics]'") from exc


def command_label(command: str) -> str:
    """The ``command`` label: the verb if the command table knows it, else ``other``."""
    return command if command in _KNOWN_VERBS else "other"


@attrs.define
class MetricsEndpoint:
    """The HTTP server that serves ``/metrics`` (prometheus_client's, in a thread)."""

    httpd: WSGIServer
    thread: threading.Thread

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)``."""
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def close(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class PrometheusMetrics(Observer):
    """Counts every session's events as Prometheus metrics, in its own registry.

    *threads_busy* reports the blocking calls running now (read at each
    scrape); :meth:`for_server` gives the server's thread runner.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        threads_busy: Callable[[], float] | None = None,
        namespace: str = "trioftp",
    ) -> None:
        prometheus = load_prometheus_client()
        #: The registry the metrics live in (serve it, or collect it yourself).
        self.registry: CollectorRegistry = (
            registry if registry is not None else prometheus.CollectorRegistry()
        )
        common: dict[str, Any] = {"namespace": namespace, "registry": self.registry}
        counter, gauge = prometheus.Counter, prometheus.Gauge
        self._sessions = gauge("sessions", "Sessions open now.", **common)
        self._sessions_opened = counter("sessions_opened", "Sessions opened.", **common)
        self._logins = counter("logins", "Logins, by outcome.", ["outcome"], **common)
        self._commands = counter(
            "commands", "Commands answered, by verb and reply code.", ["command", "code"],
            **common,
        )  # fmt: skip
        transfer_labels = ["direction", "outcome"]
        self._transfers = counter(
            "transfers", "Finished transfers (files and listings).", transfer_labels, **common
        )
        self._bytes = counter(
            "transfer_bytes", "Bytes moved by finished transfers.", transfer_labels, **common
        )
        self._in_progress = gauge("transfers_in_progress", "Transfers running now.", **common)
        self._duration = prometheus.Histogram(
            "transfer_duration_seconds", "How long finished transfers took.", ["direction"],
            buckets=DURATION_BUCKETS, **common,
        )  # fmt: skip
        self._tls = counter(
            "tls_handshakes", "TLS handshakes, by connection and outcome.",
            ["channel", "outcome"], **common,
        )  # fmt: skip
        # Every bounded series exists from the start, at 0 (rates need a start).
        for outcome in ("success", "failure"):
            self._logins.labels(outcome)
            for channel in ("control", "data"):
                self._tls.labels(channel, outcome)
        for direction in ("received", "sent"):
            self._duration.labels(direction)
            for done in ("completed", "failed"):
                self._transfers.labels(direction, done)
                self._bytes.labels(direction, done)
        busy = gauge(
            "blocking_calls_in_progress", "Blocking calls (worker threads) running now.", **common
        )
        if threads_busy is not None:
            busy.set_function(threads_busy)

    @classmethod
    def for_server(cls, server: FTPServer, registry: CollectorRegistry | None = None) -> Self:
        """Metrics of *server*: added as its observer, with its worker threads' use."""

        def threads_busy() -> float:
            runner = server.runner
            return runner.busy if isinstance(runner, ThreadRunner) else 0

        metrics = cls(registry, threads_busy=threads_busy)
        server.add_observer(metrics)
        return metrics

    def serve(self, host: str, port: int) -> MetricsEndpoint:
        """Serve the registry on ``http://host:port/metrics`` from a thread (port 0: any)."""
        prometheus = load_prometheus_client()
        httpd, thread = prometheus.start_http_server(port, addr=host, registry=self.registry)
        return MetricsEndpoint(httpd, thread)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format (what ``/metrics`` serves)."""
        generate: Callable[[CollectorRegistry], bytes] = load_prometheus_client().generate_latest
        return generate(self.registry)

    # --- the observer

    def connected(self, remote_ip: str) -> None:
        self._sessions.inc()
        self._sessions_opened.inc()

    def disconnected(self, remote_ip: str) -> None:
        self._sessions.dec()

    def logged_in(self, username: str) -> None:
        self._logins.labels("success").inc()

    def login_failed(self, username: str) -> None:
        self._logins.labels("failure").inc()

    def command_done(self, command: str, code: int) -> None:
        self._commands.labels(command_label(command), str(code)).inc()

    def transfer_started(self, command: str, receive: bool) -> None:
        self._in_progress.inc()

    def transfer_done(self, record: TransferRecord) -> None:
        direction = "received" if record.receive else "sent"
        outcome = "completed" if record.completed else "failed"
        self._in_progress.dec()
        self._transfers.labels(direction, outcome).inc()
        self._bytes.labels(direction, outcome).inc(record.bytes)
        self._duration.labels(direction).observe(record.seconds)

    def tls_handshake(self, channel: str, succeeded: bool) -> None:
        self._tls.labels(channel, "success" if succeeded else "failure").inc()
