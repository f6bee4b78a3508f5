"""TF errors keep their code; a server bug is INTERNAL with a logged traceback, never a client's fault."""

from __future__ import annotations

import logging

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.server.config import ModelConfig
from serving.server.status import from_tf_error
from serving.tensors import to_tensor_proto


@pytest.mark.parametrize(
    "error, code",
    [
        (tf.errors.InvalidArgumentError(None, None, "bad"), grpc.StatusCode.INVALID_ARGUMENT),
        (tf.errors.NotFoundError(None, None, "gone"), grpc.StatusCode.NOT_FOUND),
        (tf.errors.ResourceExhaustedError(None, None, "oom"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (
            tf.errors.FailedPreconditionError(None, None, "uninitialized"),
            grpc.StatusCode.FAILED_PRECONDITION,
        ),
        (tf.errors.OutOfRangeError(None, None, "end"), grpc.StatusCode.OUT_OF_RANGE),
        (tf.errors.InternalError(None, None, "bug"), grpc.StatusCode.INTERNAL),
    ],
)
def test_tf_errors_keep_their_code(error, code):
    status = from_tf_error(error)
    assert (status.code, status.message) == (code, error.message)


def test_server_bug_is_internal_and_logged(start_server, model_base, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the server")

    handle = start_server(models=(ModelConfig("toy", model_base(1)),))
    monkeypatch.setattr("serving.saved_model.SessionBundle.run", broken)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    request.inputs["input_ids"].CopyFrom(to_tensor_proto(np.array([[1]], np.int32)))
    request.inputs["layer_0_h"].CopyFrom(to_tensor_proto(np.zeros((1, 3), np.float32)))
    with (
        caplog.at_level(logging.ERROR, logger="serving.server.status"),
        grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel,
        pytest.raises(grpc.RpcError) as caught,
    ):
        prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "a bug in the server" not in caught.value.details()  # internals stay in the log
    assert any("a bug in the server" in (record.exc_text or "") for record in caplog.records)
    assert (
        handle.metrics.registry.get_sample_value(
            ":tensorflow:serving:request_count", {"model_name": "toy", "status": "INTERNAL"}
        )
        == 1
    )


def test_runtime_message_drops_the_python_wrapper():
    from serving.server.status import runtime_message

    wrapped = (
        "Graph execution error:\n\nDetected at node foo defined at (most recent call last):\n"
        '  File "/srv/app.py", line 3, in step\n\n<stack traces unavailable>\n'
        "indices[0] = 99 is not in [0, 5)\n\t [[{{node foo}}]] [Op:__inference_signature_wrapper_1]"
    )
    assert runtime_message(wrapped) == "indices[0] = 99 is not in [0, 5)\n\t [[{{node foo}}]]"
    assert runtime_message("plain message") == "plain message"


def test_model_errors_reach_the_client_without_server_internals(start_server, model_base):
    handle = start_server(models=(ModelConfig("toy", model_base(1)),))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    request.inputs["input_ids"].CopyFrom(to_tensor_proto(np.array([[99]], np.int32)))
    request.inputs["layer_0_h"].CopyFrom(to_tensor_proto(np.zeros((1, 3), np.float32)))
    with (
        grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel,
        pytest.raises(grpc.RpcError) as caught,
    ):
        prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(
        "assertion failed: [input_ids outside the vocabulary [0, 5)]"
    )
    assert (
        "Graph execution error" not in caught.value.details()
        and "[Op:" not in caught.value.details()
    )
