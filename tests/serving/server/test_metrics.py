"""Metrics: bounded labels, and an HTTP endpoint that idle or abusive connections cannot exhaust."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

from serving import defaults
from serving.server.metrics import UNKNOWN_MODEL_LABEL, MonitoringEndpoint, ServerMetrics


def test_unknown_model_names_share_one_label():
    metrics = ServerMetrics(model_names=("charloom",))
    for i in range(100):
        metrics.record_request(f"nope-{i}", "predict", "NOT_FOUND", 0.001)
    metrics.record_request("charloom", "predict", "OK", 0.001)
    names = {s.labels["model_name"] for m in metrics.registry.collect() for s in m.samples
             if "model_name" in s.labels}
    assert names == {"charloom", UNKNOWN_MODEL_LABEL}
    assert metrics.registry.get_sample_value(
        "charloom_request_count_total",
        {"model_name": UNKNOWN_MODEL_LABEL, "API": "predict", "status": "NOT_FOUND"}) == 100


def fetch(port: int) -> str:
    url = f"http://127.0.0.1:{port}{defaults.MONITORING_PATH}"
    return urllib.request.urlopen(url, timeout=10).read().decode()


def test_idle_connections_hold_neither_threads_nor_the_endpoint():
    metrics = ServerMetrics()
    endpoint = MonitoringEndpoint(metrics.registry, 0, "127.0.0.1", max_threads=2, timeout_seconds=0.5)
    idle = []
    try:
        threads_before = threading.active_count()
        for _ in range(10):  # connect and send nothing
            idle.append(socket.create_connection(("127.0.0.1", endpoint.port)))
        time.sleep(0.2)
        assert threading.active_count() - threads_before <= 2
        started = time.monotonic()
        assert "charloom_request_count" in fetch(endpoint.port)  # served once the idle ones time out
        assert time.monotonic() - started < 8
    finally:
        for connection in idle:
            connection.close()
        endpoint.stop()
