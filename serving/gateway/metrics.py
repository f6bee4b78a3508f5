"""The gateway's Prometheus metrics, named after vLLM's where one fits (``charloom:`` for
``vllm:``), so a vLLM dashboard needs only the prefix changed.

| metric | what |
| --- | --- |
| `charloom:time_to_first_token_seconds` | from a request's arrival to its first text |
| `charloom:inter_token_latency_seconds` | between a request's consecutive chunks of text |
| `charloom:generation_tokens_total` | tokens generated (characters, for a character model) |
| `charloom:num_requests_running`, `charloom:num_requests_waiting` | requests decoding or prefilling; requests queued for rows |
| `charloom:rows_per_model_call` | rows in each prefill or sample call to TF Serving |
| `charloom:request_success_total` | finished requests by `finished_reason`: stop, length, abort (the client left), error |
"""  # noqa: E501 (a table)

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
)  # vLLM's time-to-first-token buckets
_ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._lock = threading.Lock()
        self.ttft = Histogram(
            "charloom:time_to_first_token_seconds",
            "Time to first token in seconds.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.inter_chunk = Histogram(
            "charloom:inter_token_latency_seconds",
            "Time between consecutive chunks of a request's text.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter(
            "charloom:generation_tokens",
            "Number of generation tokens processed.",
            registry=self.registry,
        )
        self.running = Gauge(
            "charloom:num_requests_running",
            "Number of requests prefilling or decoding.",
            registry=self.registry,
        )
        self.waiting = Gauge(
            "charloom:num_requests_waiting",
            "Number of requests waiting to be processed.",
            registry=self.registry,
        )
        self.rows_per_call = Histogram(
            "charloom:rows_per_model_call",
            "Rows in each prefill or sample call to the model server.",
            buckets=_ROW_BUCKETS,
            registry=self.registry,
        )
        self.success = Counter(
            "charloom:request_success",
            "Count of finished requests.",
            ["finished_reason"],
            registry=self.registry,
        )

    def chunk(self, job, now: float) -> None:
        """A request produced text at ``now`` (time.monotonic())."""
        with self._lock:
            if job.first_token_at is None:
                job.first_token_at = now
                self.ttft.observe(now - job.submitted)
            elif job.last_chunk_at is not None:
                self.inter_chunk.observe(now - job.last_chunk_at)
            job.last_chunk_at = now

    def finished(self, reason: str) -> None:
        self.success.labels(reason).inc()
