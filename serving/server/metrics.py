"""Prometheus metrics of one server (its own registry) and the HTTP endpoint exposing them.

Counterparts of TF Serving's metrics: `charloom_request_count_total` ~
`:tensorflow:serving:request_count`, `charloom_request_latency_seconds` ~
`:tensorflow:serving:request_latency`, `charloom_batching_processed_batch_size` ~
`:tensorflow:serving:batching_session:processed_batch_size`.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app

from serving import defaults

logger = logging.getLogger(__name__)
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _batch_size_buckets(max_batch_size: int) -> tuple[float, ...]:
    buckets = [1.0]
    while buckets[-1] < max_batch_size:
        buckets.append(buckets[-1] * 2)
    return tuple(buckets)


UNKNOWN_MODEL_LABEL = "<unknown>"  # the model_name label of requests naming a model not served


class ServerMetrics:
    """Request count and latency per model/API/status, and processed batch sizes.

    The model_name label takes only the configured models' names: a request naming anything
    else is counted under `UNKNOWN_MODEL_LABEL`, so clients cannot grow the label set.
    """

    def __init__(self, max_batch_size: int = defaults.MAX_BATCH_SIZE,
                 model_names: tuple[str, ...] = (defaults.MODEL_NAME,)) -> None:
        self._model_names = frozenset(model_names)
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
        if model_name not in self._model_names:
            model_name = UNKNOWN_MODEL_LABEL
        self.request_count.labels(model_name, api, status).inc()
        self.request_latency.labels(model_name, api).observe(seconds)

    def record_batch(self, rows: int) -> None:
        self.processed_batch_size.observe(rows)


class BoundedWSGIServer(WSGIServer):
    """A WSGI server with a fixed pool of handler threads and a socket timeout per connection.

    At most ``max_threads`` connections are handled at once and as many more wait for a thread;
    beyond that the server stops accepting (new connections wait in the kernel's backlog) until
    one finishes. A client that sends nothing is dropped after ``timeout_seconds``, so idle or
    slow connections hold neither threads nor memory for long.
    """

    request_queue_size = 64

    def __init__(self, address: tuple[str, int], handler: type, max_threads: int, timeout_seconds: float) -> None:
        self._timeout_seconds = timeout_seconds
        self._pool = concurrent.futures.ThreadPoolExecutor(max_threads, thread_name_prefix="http")
        self._slots = threading.BoundedSemaphore(2 * max_threads)
        super().__init__(address, handler)

    def get_request(self):  # type: ignore[no-untyped-def] - socketserver's signature
        connection, address = super().get_request()
        connection.settimeout(self._timeout_seconds)
        return connection, address

    def process_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        # A slot frees within two timeouts (waiting for a thread, then idle in it); wait for one.
        if not self._slots.acquire(timeout=3 * self._timeout_seconds):
            self.shutdown_request(request)
            return
        self._pool.submit(self._handle, request, client_address)

    def _handle(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - one broken connection must not stop the server
            logger.debug("monitoring request from %s failed", client_address, exc_info=True)
        finally:
            self.shutdown_request(request)
            self._slots.release()

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        return None


MONITORING_THREADS = 4
MONITORING_TIMEOUT_SECONDS = 10.0


class MonitoringEndpoint:
    """Serves the registry at `path` over HTTP (everything else is 404)."""

    def __init__(self, registry: CollectorRegistry, port: int, host: str = "0.0.0.0",
                 path: str = defaults.MONITORING_PATH, max_threads: int = MONITORING_THREADS,
                 timeout_seconds: float = MONITORING_TIMEOUT_SECONDS) -> None:
        metrics_app = make_wsgi_app(registry)

        def app(environ, start_response):  # type: ignore[no-untyped-def]
            if environ.get("PATH_INFO") == path:
                return metrics_app(environ, start_response)
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [f"metrics are at {path}\n".encode()]

        self._server = BoundedWSGIServer((host, port), _QuietHandler, max_threads, timeout_seconds)
        self._server.set_app(app)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="monitoring", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
