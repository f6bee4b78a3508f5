"""Every client mistake gets TF Serving's gRPC code and message; nothing is UNKNOWN or INTERNAL."""

from __future__ import annotations

import shutil
from types import MappingProxyType

import grpc
import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving.server.config import ModelConfig, ServerConfig, ServerLimits
from serving.server.model_server import start_server
from serving.signature_inputs import detokenize_ids
from serving.tensors import from_tensor_proto, to_tensor_proto

INVALID = grpc.StatusCode.INVALID_ARGUMENT
LIMITS = ServerLimits(max_message_bytes=64 * 1024, max_request_batch=4, max_prompt_length=200)


@pytest.fixture(scope="module")
def server(tmp_path_factory, toy_model_cache):
    base = tmp_path_factory.mktemp("errors") / "toy"
    shutil.copytree(toy_model_cache(1.0), base / "1")
    config = ServerConfig(
        models=(
            ModelConfig("toy", base, version_labels=MappingProxyType({"stable": 1, "gone": 9})),
        ),
        port=0,
        host="127.0.0.1",
        poll_wait_seconds=0,
        limits=LIMITS,
    )
    handle = start_server(config)
    yield handle, base
    handle.stop(grace=0)


@pytest.fixture(scope="module")
def stubs(server):
    handle, _ = server
    with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        yield (
            prediction_service_pb2_grpc.PredictionServiceStub(channel),
            model_service_pb2_grpc.ModelServiceStub(channel),
        )


def step_request(name="toy", ids=((2,),), state_rows=1, **spec) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    for key, value in spec.items():
        if key == "version":
            request.model_spec.version.value = value
        else:
            setattr(request.model_spec, key, value)
    request.inputs["input_ids"].CopyFrom(to_tensor_proto(np.array(ids, dtype=np.int32)))
    request.inputs["layer_0_h"].CopyFrom(to_tensor_proto(np.zeros((state_rows, 3), np.float32)))
    return request


def strings_tensor(shape, *values: bytes) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=list(values))
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    return proto


def rank_tensor(rank: int) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[0.0])
    for _ in range(rank):
        proto.tensor_shape.dim.add(size=1)
    return proto


def huge_broadcast_tensor() -> tensor_pb2.TensorProto:
    """A few bytes on the wire declaring 4 GB once decoded (one value broadcast to the shape)."""
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[0.0])
    proto.tensor_shape.dim.add(size=1)
    proto.tensor_shape.dim.add(size=10**9)
    return proto


def rpc_error(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=30)
    return caught.value


def test_successful_predict_echoes_model_spec_and_honours_output_filter(stubs):
    predict, _ = stubs
    response = predict.Predict(step_request(version=1), timeout=30)
    assert (
        response.model_spec.name,
        response.model_spec.version.value,
        response.model_spec.signature_name,
    ) == ("toy", 1, "serving_default")
    assert set(response.outputs) == {"logits", "layer_0_h"}
    np.testing.assert_allclose(
        from_tensor_proto(response.outputs["logits"]), [[1.0] * 5]
    )  # version 1's stamp
    request = step_request(version_label="stable")
    request.output_filter.append("logits")
    response = predict.Predict(request, timeout=30)
    assert list(response.outputs) == ["logits"] and response.model_spec.version.value == 1


@pytest.mark.parametrize(
    "mutate, code, message",
    [
        (lambda r: r.ClearField("model_spec"), INVALID, "Missing ModelSpec"),
        (lambda r: setattr(r.model_spec, "name", ""), INVALID, "ModelSpec has no name specified."),
        (
            lambda r: setattr(r.model_spec, "name", "nope"),
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Latest(nope)",
        ),
        (
            lambda r: r.model_spec.version.__setattr__("value", 7),
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Specific(toy, 7)",
        ),
        (
            lambda r: setattr(r.model_spec, "version_label", "canary"),
            INVALID,
            "Unrecognized servable version label: canary",
        ),
        (
            lambda r: setattr(r.model_spec, "version_label", "gone"),
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Specific(toy, 9)",
        ),
        (
            lambda r: setattr(r.model_spec, "signature_name", "train"),
            grpc.StatusCode.FAILED_PRECONDITION,
            'Serving signature key "train" not found.',
        ),
        (
            lambda r: r.inputs.pop("layer_0_h"),
            INVALID,
            "input size does not match signature: 1!=2 len({input_ids}) != len({input_ids,layer_0_h}). "
            "Sent extra: {}. Missing but required: {layer_0_h}.",
        ),
        (
            lambda r: r.inputs["extra"].CopyFrom(to_tensor_proto(np.zeros(1, np.float32))),
            INVALID,
            "Sent extra: {extra}. Missing but required: {}.",
        ),
        (
            lambda r: r.inputs["layer_9_h"].CopyFrom(r.inputs.pop("layer_0_h")),
            INVALID,
            "Signature input alias: layer_0_h(feed name: serving_default_layer_0_h:0) not found in request and no "
            "default value provided. Inputs expected to be in the request {input_ids,layer_9_h}, or default input "
            "alias set: ",
        ),
        (
            lambda r: r.inputs["input_ids"].CopyFrom(to_tensor_proto(np.array([[2]], np.int64))),
            INVALID,
            "Expects arg[0] to be int32 but int64 is provided",
        ),
        # no shape check of the server's own (TF Serving has none): the model's own refuses it
        (
            lambda r: r.inputs["input_ids"].CopyFrom(to_tensor_proto(np.array([[2, 3]], np.int32))),
            INVALID,
            "[1,2] is not compatible with expected shape [?,1]",
        ),
        (
            lambda r: r.inputs["layer_0_h"].MergeFrom(
                to_tensor_proto(np.zeros((1, 1), np.float32))
            ),
            INVALID,
            "tensor parsing error: layer_0_h",
        ),
        (
            lambda r: r.inputs["input_ids"].CopyFrom(to_tensor_proto(np.array([[99]], np.int32))),
            INVALID,
            "input_ids outside the vocabulary [0, 5)",
        ),
        (
            lambda r: r.output_filter.append("probabilities"),
            INVALID,
            "output tensor alias not found in signature: probabilities Outputs expected to be in the set {layer_0_h,logits}.",  # noqa: E501
        ),
        (
            lambda r: r.output_filter.extend(["logits", "logits"]),
            INVALID,
            "duplicate output tensor alias: logits",
        ),
        (
            lambda r: r.inputs["input_ids"].CopyFrom(to_tensor_proto(np.zeros((5, 1), np.int32))),
            INVALID,
            "input 'input_ids' has batch size 5, above the server's limit of 4 (--max-request-batch)",
        ),
        (
            lambda r: r.inputs["layer_0_h"].CopyFrom(huge_broadcast_tensor()),
            INVALID,
            "input 'layer_0_h' of shape [1,1000000000] is larger than the server's limit of 65536 bytes (--max-message-bytes)",  # noqa: E501
        ),
        (
            lambda r: r.inputs["layer_0_h"].CopyFrom(strings_tensor([4, 200_000], b"a")),
            INVALID,
            "input 'layer_0_h' of shape [4,200000] is larger than the server's limit of 65536 bytes (--max-message-bytes)",  # noqa: E501
        ),
        (
            lambda r: r.inputs["layer_0_h"].CopyFrom(strings_tensor([2], b"a" * 40_000)),
            INVALID,
            "input 'layer_0_h' of shape [2] is larger than the server's limit",
        ),
        (
            lambda r: r.inputs["layer_0_h"].CopyFrom(rank_tensor(65)),
            INVALID,
            "tensor parsing error: layer_0_h",
        ),
        (
            lambda r: r.inputs["layer_0_h"].CopyFrom(
                tensor_pb2.TensorProto(dtype=types_pb2.DT_RESOURCE)
            ),
            INVALID,
            "tensor parsing error: layer_0_h",
        ),
        (
            lambda r: r.inputs["layer_0_h"].CopyFrom(tensor_pb2.TensorProto(dtype=1234)),
            INVALID,
            "tensor parsing error: layer_0_h",
        ),
    ],
)
def test_predict_errors(stubs, mutate, code, message):
    predict, _ = stubs
    request = step_request()
    mutate(request)
    error = rpc_error(predict.Predict, request)
    assert error.code() == code, error.details()
    assert message in error.details()


def test_prompt_longer_than_the_limit_is_rejected(stubs):
    predict, _ = stubs
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = "toy", "detokenize"
    request.inputs["input_ids"].CopyFrom(to_tensor_proto(np.ones((1, 201), np.int32)))
    error = rpc_error(predict.Predict, request)
    assert error.code() == INVALID
    assert "length 201, above the server's limit of 200 (--max-prompt-length)" in error.details()
    request.inputs["input_ids"].CopyFrom(to_tensor_proto(np.ones((1, 200), np.int32)))
    at_limit = rpc_error(predict.Predict, request)  # past the server's check, refused by the model
    assert "--max-prompt-length" not in at_limit.details()
    assert "is not compatible with expected shape" in at_limit.details()
    request.inputs["input_ids"].CopyFrom(to_tensor_proto(detokenize_ids([1])))
    assert predict.Predict(request, timeout=30).model_spec.signature_name == "detokenize"


def test_oversized_message_is_resource_exhausted(stubs):
    predict, _ = stubs
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = "toy", "tokenize"
    request.inputs["text"].CopyFrom(
        to_tensor_proto(np.array(["x" * (LIMITS.max_message_bytes + 1)]))
    )
    assert rpc_error(predict.Predict, request).code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_metadata_is_the_saved_models_signature_def_map(stubs, server):
    predict, _ = stubs
    _, base = server
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "toy"
    response = predict.GetModelMetadata(request, timeout=30)
    assert (response.model_spec.name, response.model_spec.version.value) == ("toy", 1)
    served = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(served)
    saved = saved_model_pb2.SavedModel.FromString((base / "1" / "saved_model.pb").read_bytes())
    assert dict(served.signature_def) == dict(saved.meta_graphs[0].signature_def)
    assert {"serving_default", "prefill", "tokenize", "detokenize"} <= set(served.signature_def)


@pytest.mark.parametrize(
    "fields, name, code, message",
    [
        (["signature_def"], None, INVALID, "Missing ModelSpec"),
        ([], "toy", INVALID, "GetModelMetadataRequest must specify at least one metadata_field"),
        (["graph"], "toy", INVALID, "Metadata field graph is not supported"),
        (
            ["signature_def"],
            "nope",
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Latest(nope)",
        ),
        (["signature_def"], "", INVALID, "ModelSpec has no name specified."),
    ],
)
def test_metadata_errors(stubs, fields, name, code, message):
    predict, _ = stubs
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=fields)
    if name is not None:
        request.model_spec.name = name
    error = rpc_error(predict.GetModelMetadata, request)
    assert (error.code(), error.details()) == (code, message)


def test_model_status(stubs):
    _, model = stubs
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "toy"
    response = model.GetModelStatus(request, timeout=30)
    assert [(s.version, s.state) for s in response.model_version_status] == [
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE)
    ]
    assert response.model_version_status[0].status.error_code == 0
    for spec, code, message in [
        (None, INVALID, "Missing ModelSpec"),
        (("toy", 3), grpc.StatusCode.NOT_FOUND, "Could not find version 3 of model toy"),
        (("nope", None), grpc.StatusCode.NOT_FOUND, "Could not find any versions of model nope"),
    ]:
        request = get_model_status_pb2.GetModelStatusRequest()
        if spec is not None:
            request.model_spec.name = spec[0]
            if spec[1] is not None:
                request.model_spec.version.value = spec[1]
        error = rpc_error(model.GetModelStatus, request)
        assert (error.code(), error.details()) == (code, message)
