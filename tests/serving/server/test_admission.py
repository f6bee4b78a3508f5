"""Concurrency limits: calls beyond --max-concurrent-requests are refused, health checks always
answer, and a second server cannot share a busy port."""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.errors import ServingError
from serving.server.config import BatchingOptions, ModelConfig, ServerLimits
from serving.server.metrics import REQUEST_COUNT, UNKNOWN_MODEL_LABEL
from serving.tensors import to_tensor_proto

pytestmark = pytest.mark.slow


def step_request(rows: int = 1) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    request.inputs["input_ids"].CopyFrom(to_tensor_proto(np.ones((rows, 1), np.int32)))
    request.inputs["layer_0_h"].CopyFrom(to_tensor_proto(np.zeros((rows, 3), np.float32)))
    return request


def status_codes(calls) -> list[grpc.StatusCode]:
    """Each finished call's status code, in order."""
    codes = []
    for call in calls:
        try:
            call.result()
            codes.append(grpc.StatusCode.OK)
        except grpc.RpcError as exc:
            codes.append(exc.code())
    return codes


def test_calls_beyond_the_limit_are_refused_and_health_still_answers(start_server, model_base):
    # A 3-second batch timeout keeps the first call waiting in the batch queue.
    batching = BatchingOptions(
        enabled=True, max_batch_size=64, batch_timeout_micros=3_000_000, num_batch_threads=1
    )
    handle = start_server(
        models=(ModelConfig("toy", model_base(1)),),
        batching=batching,
        limits=ServerLimits(max_concurrent_requests=1),
    )
    with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        first = stub.Predict.future(step_request(), timeout=30)
        time.sleep(0.5)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(step_request(), timeout=30)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (
            "already handling 1 Predict/GetModelMetadata calls (--max-concurrent-requests)"
            in caught.value.details()
        )
        started = time.monotonic()
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        assert time.monotonic() - started < 1.0
        assert not first.done()
        assert first.result().outputs["logits"].tensor_shape.dim[0].size == 1
        # the slot is free again: the next call is admitted (a full batch: no 3-second wait)
        full = stub.Predict(step_request(rows=64), timeout=30)
        assert full.outputs["logits"].tensor_shape.dim[0].size == 64


def test_many_slow_callers_never_starve_health_checks(start_server, model_base):
    batching = BatchingOptions(
        enabled=True, max_batch_size=1000, batch_timeout_micros=2_000_000, num_batch_threads=1
    )
    handle = start_server(
        models=(ModelConfig("toy", model_base(1)),),
        batching=batching,
        limits=ServerLimits(max_concurrent_requests=4),
    )
    with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        calls = [stub.Predict.future(step_request(), timeout=30) for _ in range(40)]
        time.sleep(0.3)
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=2
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        codes = status_codes(calls)
        assert set(codes) == {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert codes.count(grpc.StatusCode.OK) >= 4


def test_a_second_server_on_a_busy_port_fails(start_server, model_base):
    models = (ModelConfig("toy", model_base(1)),)
    handle = start_server(models=models)
    with pytest.raises(ServingError, match=f"cannot listen on 127.0.0.1:{handle.port}"):
        start_server(models=models, port=handle.port)


def test_the_limit_must_be_positive(model_base):
    from serving.server.config import ServerConfig

    with pytest.raises(ServingError, match="--max-concurrent-requests must be positive"):
        ServerConfig(
            models=(ModelConfig("toy", model_base(1)),),
            limits=ServerLimits(max_concurrent_requests=0),
        )


def test_slow_senders_never_starve_probes(start_server, model_base):
    """Calls that open a Predict and hold back its message: past the limit they are refused at
    once, and health checks and GetModelStatus keep answering."""
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    handle = start_server(
        models=(ModelConfig("toy", model_base(1)),),
        limits=ServerLimits(max_concurrent_requests=4),
    )
    release = threading.Event()

    def held_back():
        release.wait(30)
        yield step_request()

    with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        predict = channel.stream_unary(
            "/tensorflow.serving.PredictionService/Predict",
            request_serializer=predict_pb2.PredictRequest.SerializeToString,
            response_deserializer=predict_pb2.PredictResponse.FromString,
        )
        slow = [predict.future(held_back(), timeout=60) for _ in range(40)]
        try:
            time.sleep(1.0)
            for _ in range(3):
                started = time.monotonic()
                health = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=5
                )
                assert health.status == health_pb2.HealthCheckResponse.SERVING
                status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
                    get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "toy"}),
                    timeout=5,
                )
                assert status.model_version_status[0].version == 1
                assert time.monotonic() - started < 1.0
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                stub.Predict(step_request(), timeout=5)
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "(--max-concurrent-requests)" in caught.value.details()
        finally:
            release.set()
        codes = status_codes(slow)
        assert codes.count(grpc.StatusCode.OK) == 4
        assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 36
        refused = handle.metrics.registry.get_sample_value(
            REQUEST_COUNT, {"model_name": UNKNOWN_MODEL_LABEL, "status": "RESOURCE_EXHAUSTED"}
        )
        assert refused == 37  # the 36 slow senders and the Predict refused meanwhile
        assert (
            stub.Predict(step_request(), timeout=30).outputs["logits"].tensor_shape.dim[0].size == 1
        )
