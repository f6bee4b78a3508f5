"""Prometheus metrics of one server (its own registry) and the HTTP endpoint exposing them.

Counterparts of TF Serving's metrics: `charloom_request_count_total` ~
`:tensorflow:serving:request_count`, `charloom_request_latency_seconds` ~
`:tensorflow:serving:request_latency`, `charloom_batching_processed_batch_size` ~
`:tensorflow:serving:batching_session:processed_batch_size`.
"""

from __future__ import annotations

import socketserver
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app

from serving import defaults

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _batch_size_buckets(max_batch_size: int) -> tuple[float, ...]:
    buckets = [1.0]
    while buckets[-1] < max_batch_size:
        buckets.append(buckets[-1] * 2)
    return tuple(buckets)


class ServerMetrics:
    """Request count and latency per model/API/status, and processed batch sizes."""

    def __init__(self, max_batch_size: int = defaults.MAX_BATCH_SIZE) -> None:
        self.registry = CollectorRegistry()
        self.request_count = Counter(
            "charloom_request_count", "RPCs handled, by model, API and gRPC status code.",
            ["model_name", "API", "status"], registry=self.registry)
        self.request_latency = Histogram(
            "charloom_request_latency_seconds", "Time from receiving an RPC to answering it.",
            ["model_name", "API"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.processed_batch_size = Histogram(
            "charloom_batching_processed_batch_size",
            "Rows per model call made by the batch scheduler (above 1 means requests were batched).",
            buckets=_batch_size_buckets(max_batch_size), registry=self.registry)

    def record_request(self, model_name: str, api: str, status: str, seconds: float) -> None:
        self.request_count.labels(model_name, api, status).inc()
        self.request_latency.labels(model_name, api).observe(seconds)

    def record_batch(self, rows: int) -> None:
        self.processed_batch_size.observe(rows)


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        return None


class MonitoringEndpoint:
    """Serves the registry at `path` over HTTP (everything else is 404)."""

    def __init__(self, registry: CollectorRegistry, port: int, host: str = "0.0.0.0",
                 path: str = defaults.MONITORING_PATH) -> None:
        metrics_app = make_wsgi_app(registry)

        def app(environ, start_response):  # type: ignore[no-untyped-def]
            if environ.get("PATH_INFO") == path:
                return metrics_app(environ, start_response)
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [f"metrics are at {path}\n".encode()]

        self._server = make_server(host, port, app, server_class=_ThreadingWSGIServer,
                                   handler_class=_QuietHandler)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="monitoring", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
