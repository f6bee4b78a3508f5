"""Batching of concurrent requests, deadlines, graceful shutdown and the metrics that show them."""

from __future__ import annotations

import threading
import time
import urllib.request

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving import defaults
from serving.server.batching_parameters import parse_batching_parameters
from serving.server.config import BatchingOptions, ModelConfig, RestOptions
from serving.tensors import from_tensor_proto, to_tensor_proto
from tests.helpers.session_model import SessionSignatures

pytestmark = pytest.mark.slow


def step_request(token: int, rows: int = 1, state: float = 0.0) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    request.inputs["input_ids"].CopyFrom(to_tensor_proto(np.full((rows, 1), token, np.int32)))
    request.inputs["layer_0_h"].CopyFrom(to_tensor_proto(np.full((rows, 3), state, np.float32)))
    return request


def sample(handle, name: str, labels: dict | None = None) -> float:
    return handle.metrics.registry.get_sample_value(name, labels or {}) or 0.0


def test_concurrent_streams_share_model_calls(start_server, model_base):
    options = BatchingOptions(
        enabled=True, max_batch_size=8, batch_timeout_micros=200_000, num_batch_threads=1
    )
    base = model_base(1)
    handle = start_server(
        models=(ModelConfig("toy", base),), batching=options, rest=RestOptions(port=0)
    )
    warmup_calls = sample(
        handle, ":tensorflow:serving:batching_session:processed_batch_size_count"
    )  # the export's warmup
    warmup_rows = sample(handle, ":tensorflow:serving:batching_session:processed_batch_size_sum")
    runtime_labels = {"model_name": "toy", "API": "Predict", "runtime": "TF1"}
    queuing_labels = {"thread_pool_name": "batch_threads"}
    warmup_runs = sample(handle, ":tensorflow:serving:runtime_latency_count", runtime_labels)
    warmup_queued = sample(
        handle, ":tensorflow:serving:batching_session:queuing_latency_count", queuing_labels
    )
    reference = SessionSignatures(base / "1")[
        "serving_default"
    ]  # each stream's answer, computed alone
    streams, steps = 8, 3
    barrier = threading.Barrier(streams)
    results: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    errors: list[BaseException] = []

    def stream(token: int) -> None:
        try:
            with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
                stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
                out = []
                for _ in range(steps):
                    barrier.wait(timeout=30)
                    request = step_request(token % 4, rows=1 + token % 2, state=token)
                    response = stub.Predict(request, timeout=30)
                    out.append(
                        (
                            from_tensor_proto(response.outputs["logits"]),
                            from_tensor_proto(response.outputs["layer_0_h"]),
                        )
                    )
                results[token] = out
        except BaseException as exc:  # reported below with the failing stream's id
            errors.append(exc)

    threads = [threading.Thread(target=stream, args=(t,)) for t in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    for token, outputs in results.items():  # every stream got its own rows back
        request = step_request(token % 4, rows=1 + token % 2, state=token)
        alone = reference(**{k: from_tensor_proto(v) for k, v in request.inputs.items()})
        for logits, state in outputs:
            assert logits.shape == (1 + token % 2, 5)
            np.testing.assert_allclose(logits, 1.0)  # version 1's stamp
            np.testing.assert_allclose(state, alone["layer_0_h"], atol=1e-6)
    requests = streams * steps
    calls = (
        sample(handle, ":tensorflow:serving:batching_session:processed_batch_size_count")
        - warmup_calls
    )
    rows = (
        sample(handle, ":tensorflow:serving:batching_session:processed_batch_size_sum")
        - warmup_rows
    )
    assert rows == sum(1 + t % 2 for t in range(streams)) * steps
    assert calls < requests / 2, f"{requests} requests took {calls} model calls"
    assert (
        sample(handle, ":tensorflow:serving:request_count", {"model_name": "toy", "status": "OK"})
        == requests
    )
    # TF Serving's runtime latency (one per Predict, its batch wait included) and queuing
    # latency (one per task a batch thread takes; each request here is one task)
    runs = sample(handle, ":tensorflow:serving:runtime_latency_count", runtime_labels)
    assert runs - warmup_runs == requests
    queued = sample(
        handle, ":tensorflow:serving:batching_session:queuing_latency_count", queuing_labels
    )
    assert queued - warmup_queued == requests
    url = f"http://127.0.0.1:{handle.rest_port}{defaults.MONITORING_PATH}"
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    assert ":tensorflow:serving:batching_session:processed_batch_size_bucket" in text
    assert ":tensorflow:serving:batching_session:queuing_latency_bucket" in text
    assert ":tensorflow:serving:runtime_latency_bucket" in text
    assert (
        ':tensorflow:serving:request_latency_count{API="Predict",entrypoint="GRPC",model_name="toy"}'
        in text
    )


def test_a_bad_request_fails_its_whole_batch_as_on_tf_serving(start_server, model_base):
    """TF Serving runs a batch as one Session::Run: one request's bad values fail every request
    batched with it (the model's error, for all), and nothing is rerun."""
    options = BatchingOptions(
        enabled=True, max_batch_size=8, batch_timeout_micros=1_000_000, num_batch_threads=1
    )
    handle = start_server(
        models=(ModelConfig("toy", model_base(1)),),
        batching=options,
    )
    outcomes: dict[int, object] = {}

    def call(token: int) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
            try:
                outcomes[token] = prediction_service_pb2_grpc.PredictionServiceStub(
                    channel
                ).Predict(step_request(token), timeout=30)
            except grpc.RpcError as exc:
                outcomes[token] = exc.code()

    threads = [
        threading.Thread(target=call, args=(token,)) for token in (1, 2, 99)
    ]  # 99: out of range
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes == {
        1: grpc.StatusCode.INVALID_ARGUMENT,
        2: grpc.StatusCode.INVALID_ARGUMENT,
        99: grpc.StatusCode.INVALID_ARGUMENT,
    }
    assert (
        sample(handle, ":tensorflow:serving:batching_session:processed_batch_size_count") == 1
    )  # one batch
    assert sample(handle, ":tensorflow:serving:batching_session:processed_batch_size_sum") == 3


def test_request_whose_deadline_passes_in_the_queue_is_dropped(start_server, model_base):
    options = BatchingOptions(
        enabled=True, max_batch_size=64, batch_timeout_micros=1_500_000, num_batch_threads=1
    )
    handle = start_server(
        models=(ModelConfig("toy", model_base(1)),),
        batching=options,
    )
    with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        grpc.channel_ready_future(channel).result(
            timeout=30
        )  # the deadline is for the queue, not connecting
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(step_request(1), timeout=0.3)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - started < 1.0
        deadline = time.monotonic() + 10
        labels = {"model_name": "toy", "status": "DEADLINE_EXCEEDED"}
        while sample(handle, ":tensorflow:serving:request_count", labels) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.5)  # past the batch timeout: the expired request must not have run
        assert (
            sample(handle, ":tensorflow:serving:batching_session:processed_batch_size_count") == 0
        )
        response = stub.Predict(step_request(2), timeout=30)  # a patient request still succeeds
        np.testing.assert_allclose(from_tensor_proto(response.outputs["logits"]), 1.0)
        # one model call with one row: the expired request was never run, alone or batched
        assert (
            sample(handle, ":tensorflow:serving:batching_session:processed_batch_size_count") == 1
        )
        assert sample(handle, ":tensorflow:serving:batching_session:processed_batch_size_sum") == 1


def test_graceful_shutdown_drains_in_flight_calls(start_server, model_base):
    options = BatchingOptions(
        enabled=True, max_batch_size=64, batch_timeout_micros=700_000, num_batch_threads=1
    )
    handle = start_server(
        models=(ModelConfig("toy", model_base(1)),),
        batching=options,
    )
    outcome: list[object] = []
    target = f"127.0.0.1:{handle.port}"

    def slow_call() -> None:
        with grpc.insecure_channel(target) as channel:
            try:
                outcome.append(
                    prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                        step_request(1), timeout=30
                    )
                )
            except grpc.RpcError as exc:
                outcome.append(exc)

    thread = threading.Thread(target=slow_call)
    thread.start()
    time.sleep(0.3)  # the call now waits in the batching queue
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        assert (
            health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
            == health_pb2.HealthCheckResponse.SERVING
        )
    handle.stop(grace=10)
    thread.join(timeout=30)
    assert len(outcome) == 1 and isinstance(outcome[0], predict_pb2.PredictResponse), outcome
    with grpc.insecure_channel(target) as channel, pytest.raises(grpc.RpcError) as caught:
        prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            step_request(1), timeout=2
        )
    assert caught.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def test_batching_parameters_text_format():
    text = """
        max_batch_size { value: 128 }
        batch_timeout_micros { value: 0 }
        num_batch_threads { value: 8 }
        max_enqueued_batches { value: 100 }
        pad_variable_length_inputs: true
    """
    assert parse_batching_parameters(text) == {
        "max_batch_size": 128,
        "batch_timeout_micros": 0,
        "num_batch_threads": 8,
        "max_enqueued_batches": 100,
        "pad_variable_length_inputs": True,
    }
    every_field = (
        text
        + """
        allowed_batch_sizes: 32 allowed_batch_sizes: 128
        enable_large_batch_splitting { value: true }
        max_execution_batch_size { value: 32 }
        thread_pool_name { value: "model_server_batch_threads" }
    """
    )
    parsed = parse_batching_parameters(every_field)
    assert parsed["allowed_batch_sizes"] == (32, 128) and parsed["enable_large_batch_splitting"]
    assert parsed["max_execution_batch_size"] == 32 and "thread_pool_name" not in parsed
    options = BatchingOptions(enabled=True, **parsed)
    assert options.problems() == [] and options.execution_batch_size == 32
