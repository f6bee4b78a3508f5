"""Prometheus metrics of one server, under TF Serving's own names, so one dashboard and one alert
serve `charloom serve` and the TF Serving pods.

| metric | labels | recorded for |
| --- | --- | --- |
| `:tensorflow:serving:request_count` | model_name, status | every Predict (gRPC) and every REST call |
| `:tensorflow:serving:request_latency` (µs histogram) | model_name, API, entrypoint | successful ones: API `Predict` over gRPC, the REST method (`predict`, or empty for status and metadata) with entrypoint `REST` |
| `:tensorflow:serving:runtime_latency` (µs histogram) | model_name, API, runtime | each successful Predict's session run (`Predict`, `TF1`; with batching, its wait for the batch included, as BatchingSession::Run blocks) |
| `:tensorflow:serving:batching_session:queuing_latency` (µs histogram) | thread_pool_name | each task a batch thread takes off its queue: the time it waited (`batch_threads`) |
| `:tensorflow:serving:batching_session:input_batch_size` | | each request a batch scheduler takes |
| `:tensorflow:serving:batching_session:processed_batch_size` | | each batch run (rows after padding) |
| `:tensorflow:serving:batching_session:padding_size` | execution_batch_size | each batch run |

Names, labels and buckets are TF Serving's (tensorflow_serving/servables/tensorflow/util.cc,
batching/batching_util.h; its exporter turns `/` into `:`). One departure: the request counter
is exposed untyped (its samples keep TF Serving's name, without the `_total` the Prometheus
client library would add to a counter). The model_name label takes only the served models'
names; requests naming any other model are counted under `UNKNOWN_MODEL_LABEL`, so clients
cannot grow the label set.
"""  # noqa: E501 (a table)

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import Metric

from serving import defaults

UNKNOWN_MODEL_LABEL = "<unknown>"
REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
RUNTIME_LATENCY = ":tensorflow:serving:runtime_latency"
RUNTIME_TF1 = "TF1"  # the runtime label of TF Serving's Session (TF1 SavedModel) path
BATCH_THREAD_POOL = "batch_threads"  # TF Serving's default name of the batch threads' pool
BATCHING_PREFIX = ":tensorflow:serving:batching_session:"
GRPC, REST = "GRPC", "REST"  # the entrypoint label


def _exponential(scale: float, growth: float, count: int) -> tuple[float, ...]:
    """TF's monitoring::Buckets::Exponential: scale * growth**i for i < count (plus +Inf)."""
    return tuple(scale * growth**i for i in range(count))


_LATENCY_BUCKETS_US = _exponential(10, 1.8, 33)  # TF Serving's: 10 µs to ~20 minutes
_BATCH_BUCKETS = _exponential(1, 2, 14)  # 1 to 8192 rows
_QUEUING_BUCKETS_US = _exponential(100, 1.2, 52)  # TF Serving's: 100 µs to ~1 second


class _RequestCounter:
    """`:tensorflow:serving:request_count{model_name,status}` as TF Serving exposes it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Tally[tuple[str, str]] = Tally()

    def inc(self, model_name: str, status: str) -> None:
        with self._lock:
            self._counts[(model_name, status)] += 1

    def value(self, model_name: str, status: str) -> int:
        with self._lock:
            return self._counts[(model_name, status)]

    def collect(self) -> Iterable[Metric]:
        metric = Metric(REQUEST_COUNT, "The total number of requests.", "unknown")
        with self._lock:
            for (model_name, status), count in sorted(self._counts.items()):
                metric.add_sample(
                    REQUEST_COUNT, {"model_name": model_name, "status": status}, float(count)
                )
        yield metric


class ServerMetrics:
    """The server's registry and the calls that record into it."""

    def __init__(self, model_names: tuple[str, ...] = (defaults.MODEL_NAME,)) -> None:
        self._model_names = frozenset(model_names)
        self.registry = CollectorRegistry()
        self.request_count = _RequestCounter()
        self.registry.register(self.request_count)
        self.request_latency = Histogram(
            REQUEST_LATENCY,
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ["model_name", "API", "entrypoint"],
            buckets=_LATENCY_BUCKETS_US,
            registry=self.registry,
        )
        self.runtime_latency = Histogram(
            RUNTIME_LATENCY,
            "Distribution of wall time (in microseconds) for Tensorflow runtime.",
            ["model_name", "API", "runtime"],
            buckets=_LATENCY_BUCKETS_US,
            registry=self.registry,
        )
        self.queuing_latency = Histogram(
            BATCHING_PREFIX + "queuing_latency",
            "Distribution of wall time spent (in microseconds) in queuing",
            ["thread_pool_name"],
            buckets=_QUEUING_BUCKETS_US,
            registry=self.registry,
        )
        self.input_batch_size = Histogram(
            BATCHING_PREFIX + "input_batch_size",
            "Tracks the batch size distribution on the inputs.",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.processed_batch_size = Histogram(
            BATCHING_PREFIX + "processed_batch_size",
            "Tracks the batch size distribution on processing.",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.padding_size = Histogram(
            BATCHING_PREFIX + "padding_size",
            "Tracks the padding size distribution on batches.",
            ["execution_batch_size"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )

    def label(self, model_name: str) -> str:
        return model_name if model_name in self._model_names else UNKNOWN_MODEL_LABEL

    def record_request(
        self, model_name: str, api: str, entrypoint: str, status: str, seconds: float
    ) -> None:
        """A request's count by status, and its latency when it succeeded (as TF Serving)."""
        model_name = self.label(model_name)
        self.request_count.inc(model_name, status)
        if status == "OK":
            self.request_latency.labels(model_name, api, entrypoint).observe(seconds * 1e6)

    def record_runtime(self, model_name: str, api: str, seconds: float) -> None:
        """A successful call's time in the runtime (TF Serving's RecordRuntimeLatency)."""
        self.runtime_latency.labels(self.label(model_name), api, RUNTIME_TF1).observe(seconds * 1e6)

    def record_queuing(self, seconds: float) -> None:
        """A batching task's wait in its queue (BatchingSession's queuing_latency)."""
        self.queuing_latency.labels(BATCH_THREAD_POOL).observe(seconds * 1e6)

    def record_batch(self, task_sizes: list[int], processed: int) -> None:
        for size in task_sizes:
            self.input_batch_size.observe(size)
        self.processed_batch_size.observe(processed)
        self.padding_size.labels(str(processed)).observe(processed - sum(task_sizes))
