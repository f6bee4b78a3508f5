"""Metrics under TF Serving's names and labels, bounded label sets, served on the REST port."""

from __future__ import annotations

import socket
import threading
import time

import requests

from serving import defaults
from serving.server.metrics import (
    REQUEST_COUNT,
    REQUEST_LATENCY,
    UNKNOWN_MODEL_LABEL,
    ServerMetrics,
)


def test_unknown_model_names_share_one_label():
    metrics = ServerMetrics(model_names=("charloom",))
    for i in range(100):
        metrics.record_request(f"nope-{i}", "Predict", "GRPC", "NOT_FOUND", 0.001)
    metrics.record_request("charloom", "Predict", "GRPC", "OK", 0.001)
    names = {
        s.labels["model_name"]
        for m in metrics.registry.collect()
        for s in m.samples
        if "model_name" in s.labels
    }
    assert names == {"charloom", UNKNOWN_MODEL_LABEL}
    assert (
        metrics.registry.get_sample_value(
            REQUEST_COUNT, {"model_name": UNKNOWN_MODEL_LABEL, "status": "NOT_FOUND"}
        )
        == 100
    )


def test_tf_serving_names_labels_and_units():
    """request_count by model and status; request_latency in microseconds, for successes only."""
    metrics = ServerMetrics(model_names=("charloom",))
    metrics.record_request("charloom", "Predict", "GRPC", "OK", 0.0025)
    metrics.record_request("charloom", "Predict", "GRPC", "INVALID_ARGUMENT", 0.001)
    metrics.record_request("charloom", "predict", "REST", "OK", 0.004)
    metrics.record_batch([3, 2], 8)
    get = metrics.registry.get_sample_value
    assert get(REQUEST_COUNT, {"model_name": "charloom", "status": "OK"}) == 2
    assert get(REQUEST_COUNT, {"model_name": "charloom", "status": "INVALID_ARGUMENT"}) == 1
    grpc_labels = {"model_name": "charloom", "API": "Predict", "entrypoint": "GRPC"}
    assert get(REQUEST_LATENCY + "_count", grpc_labels) == 1
    assert get(REQUEST_LATENCY + "_sum", grpc_labels) == 2500.0
    assert (
        get(
            REQUEST_LATENCY + "_count",
            {"model_name": "charloom", "API": "predict", "entrypoint": "REST"},
        )
        == 1
    )
    prefix = ":tensorflow:serving:batching_session:"
    assert get(prefix + "input_batch_size_count") == 2 and get(prefix + "input_batch_size_sum") == 5
    assert get(prefix + "processed_batch_size_sum") == 8
    assert get(prefix + "padding_size_sum", {"execution_batch_size": "8"}) == 3


def test_idle_connections_hold_no_threads_and_metrics_still_answer(start_server, model_base):
    from serving.server.config import ModelConfig, RestOptions

    handle = start_server(
        models=(ModelConfig("toy", model_base(1)),), rest=RestOptions(port=0, num_threads=2)
    )
    idle = []
    try:
        threads_before = threading.active_count()
        for _ in range(50):  # connect and send nothing
            idle.append(socket.create_connection(("127.0.0.1", handle.rest_port)))
        time.sleep(0.3)
        assert threading.active_count() - threads_before <= 2
        started = time.monotonic()
        url = f"http://127.0.0.1:{handle.rest_port}{defaults.MONITORING_PATH}"
        text = requests.get(url, timeout=10).text
        assert "# TYPE :tensorflow:serving:request_latency histogram" in text
        assert time.monotonic() - started < 2
    finally:
        for connection in idle:
            connection.close()
