"""Work stops at the client's deadline: the largest legal `sample` call is cancelled, not finished."""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving import contract
from serving.server.config import ModelConfig
from serving.signature_inputs import extra_sample_inputs
from serving.tensors import to_tensor_proto

pytestmark = pytest.mark.slow
CHARS = "abcdefghij"


def sample_request(rows: int, units: int) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "heavy"
    request.model_spec.signature_name = contract.SAMPLE
    inputs = {
        contract.INPUT_IDS: np.zeros([rows, 1], np.int32),
        "layer_0_h": np.zeros([rows, units], np.float32),
        contract.UNIFORMS: np.full([rows, contract.SAMPLE_WIDTH], 0.5),
        contract.STEPS: np.full([rows], contract.SAMPLE_WIDTH, np.int32),
        contract.TEMPERATURE: np.ones([rows]),
        contract.TOP_K: np.zeros([rows], np.int32),
        contract.TOP_P: np.ones([rows]),
        **extra_sample_inputs(rows, len(CHARS)),
    }
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(to_tensor_proto(value))
    return request


def test_a_call_past_its_deadline_is_cancelled(start_server, tmp_path):
    from tests.helpers.toy_models import export_toy_model

    units = 1536  # a full call of ~2 s here: long enough to tell a cancellation from completion
    export_toy_model(tmp_path / "heavy", units=(units,), chars=CHARS, embedding_dim=16)
    handle = start_server(models=(ModelConfig("heavy", tmp_path / "heavy"),))
    with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        started = time.monotonic()
        stub.Predict(sample_request(256, units), timeout=120)
        full = time.monotonic() - started
        assert full > 1.0, (
            f"the call is too light ({full:.2f}s) to tell a cancellation from completion"
        )
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(sample_request(256, units), timeout=0.2)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        # The server stopped the step: a small call right after is not queued behind the rest of it.
        stub.Predict(sample_request(1, units), timeout=60)
        assert time.monotonic() - started < full / 2 + 0.5
