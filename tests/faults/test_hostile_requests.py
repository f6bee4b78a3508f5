"""A few hundred malformed and hostile Predict requests against a `charloom serve` process.

Each must be answered with a client-error code (never INTERNAL or UNKNOWN), the server's peak
resident memory must stay within a stated bound of what it used before, and a valid request must
still succeed afterwards. Requests are generated from a fixed seed, so a failure reproduces.
"""

from __future__ import annotations

import json
import random

import grpc
import numpy as np
import pytest
import requests
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2

from serving import contract
from serving.tensors import to_tensor_proto
from tests.helpers.ports import free_port
from tests.helpers.processes import peak_rss_bytes

pytestmark = pytest.mark.e2e

CLIENT_ERRORS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.NOT_FOUND,
}
# The server may grow by at most this much while answering the whole barrage (its largest
# legal request decodes to 16 MiB; a few of those in flight plus the runtime's own buffers).
PEAK_RSS_GROWTH_BOUND = 256 * 1024 * 1024
REQUESTS = 300
DTYPES = [
    types_pb2.DT_FLOAT,
    types_pb2.DT_DOUBLE,
    types_pb2.DT_INT32,
    types_pb2.DT_INT64,
    types_pb2.DT_STRING,
    types_pb2.DT_BOOL,
    types_pb2.DT_HALF,
    types_pb2.DT_UINT8,
    types_pb2.DT_COMPLEX64,
    types_pb2.DT_RESOURCE,
    types_pb2.DT_VARIANT,
    types_pb2.DT_QINT8,
    types_pb2.DT_BFLOAT16,
    0,
    99,
    1234,
]
HUGE_DIMS = [2**31, 2**40, 2**62, 200_000, 2_000_000, 4097, 16 * 1024 * 1024]
SIGNATURE_INPUTS = {
    contract.STEP: (contract.INPUT_IDS, "layer_0_h"),
    contract.PREFILL: (contract.INPUT_IDS, contract.LENGTHS, "layer_0_h"),
    contract.SAMPLE: (
        contract.INPUT_IDS,
        "layer_0_h",
        contract.UNIFORMS,
        contract.STEPS,
        contract.TEMPERATURE,
        contract.TOP_K,
        contract.TOP_P,
    ),
    contract.TOKENIZE: (contract.TEXT,),
    contract.DETOKENIZE: (contract.INPUT_IDS,),
}


def hostile_tensor(rng: random.Random) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=rng.choice(DTYPES))
    kind = rng.random()
    if kind < 0.15:  # many dimensions
        rank = rng.choice([65, 100, 254, 255, 300])
        for _ in range(rank):
            proto.tensor_shape.dim.add().size = 1
    else:
        for _ in range(rng.randint(0, 4)):
            size = rng.choice([0, 1, 2, 3, 64, 128, 256, 257, -1, *HUGE_DIMS])
            proto.tensor_shape.dim.add().size = size
    if rng.random() < 0.05:
        proto.tensor_shape.unknown_rank = True
    fill = rng.random()
    if fill < 0.25:
        proto.string_val.extend([b"x" * rng.choice([0, 1, 1000, 100_000])] * rng.randint(1, 3))
    elif fill < 0.45:
        proto.tensor_content = rng.randbytes(rng.choice([0, 1, 3, 4, 64, 4096, 1 << 20]))
    elif fill < 0.6:
        proto.int_val.extend(rng.randint(-(2**31), 2**31 - 1) for _ in range(rng.randint(1, 50)))
    elif fill < 0.7:
        proto.float_val.extend(rng.uniform(-1e30, 1e30) for _ in range(rng.randint(1, 50)))
    elif fill < 0.75:
        proto.float_val.extend([float("nan"), float("inf"), -float("inf")])
    elif fill < 0.8:
        proto.int64_val.extend([2**62, -(2**62)])
    return proto


def hostile_request(rng: random.Random) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    spec = rng.random()
    request.model_spec.name = (
        "charloom" if spec < 0.9 else rng.choice(["", "nope", "charloom\x00", "c" * 1000])
    )
    if rng.random() < 0.1:
        request.model_spec.version.value = rng.choice([0, 2, -1, 2**62])
    elif rng.random() < 0.05:
        request.model_spec.version_label = rng.choice(["stable", ""])
    signature = rng.choice([*SIGNATURE_INPUTS, "", "nope", "x" * 500])
    request.model_spec.signature_name = signature
    names = list(SIGNATURE_INPUTS.get(signature, (contract.INPUT_IDS,)))
    if rng.random() < 0.2:
        names.append(rng.choice(["extra", "", "layer_9_h", contract.TEXT]))
    if rng.random() < 0.2 and len(names) > 1:
        names.remove(rng.choice(names))
    for name in names:
        request.inputs[name].CopyFrom(hostile_tensor(rng))
    if rng.random() < 0.1:
        request.output_filter.extend(
            rng.choice([["nope"], [contract.LOGITS, contract.LOGITS], [""]])
        )
    return request


def targeted_requests() -> list[predict_pb2.PredictRequest]:
    """The audit's reproduced attacks, and near-legal requests with one field wrong."""
    requests = []

    def request(signature: str, **inputs: tensor_pb2.TensorProto) -> predict_pb2.PredictRequest:
        r = predict_pb2.PredictRequest()
        r.model_spec.name = "charloom"
        r.model_spec.signature_name = signature
        for name, proto in inputs.items():
            r.inputs[name].CopyFrom(proto)
        return r

    def strings(shape: list[int], *values: bytes) -> tensor_pb2.TensorProto:
        proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=list(values))
        for size in shape:
            proto.tensor_shape.dim.add().size = size
        return proto

    # A 50-byte message declaring 51 M (or 512 M) strings broadcast from one value.
    requests.append(request(contract.TOKENIZE, text=strings([256, 200_000], b"a")))
    requests.append(request(contract.TOKENIZE, text=strings([256, 2_000_000], b"a")))
    requests.append(request(contract.TOKENIZE, text=strings([200_000], b"abc" * 1000)))
    # One long string with 255 empty ones (padding to the longest was the old behaviour).
    requests.append(
        request(contract.TOKENIZE, text=strings([256], b"a" * (15 * 1024 * 1024), *[b""] * 255))
    )
    requests.append(request(contract.TOKENIZE, text=strings([1], b"\xff\xfe")))  # invalid UTF-8
    requests.append(request(contract.TOKENIZE, text=to_tensor_proto(np.zeros([2], np.int32))))
    ids = to_tensor_proto(np.zeros([1, 1], np.int32))
    state = to_tensor_proto(np.zeros([1, 16], np.float32))
    requests.append(
        request(
            contract.STEP, input_ids=to_tensor_proto(np.full([1, 1], 99, np.int32)), layer_0_h=state
        )
    )
    requests.append(
        request(
            contract.STEP, input_ids=ids, layer_0_h=to_tensor_proto(np.zeros([2, 16], np.float32))
        )
    )
    requests.append(
        request(
            contract.STEP, input_ids=ids, layer_0_h=to_tensor_proto(np.zeros([1, 3], np.float32))
        )
    )
    requests.append(
        request(
            contract.STEP, input_ids=to_tensor_proto(np.zeros([1, 1], np.float32)), layer_0_h=state
        )
    )
    requests.append(
        request(contract.DETOKENIZE, input_ids=to_tensor_proto(np.zeros([256, 4097], np.int32)))
    )
    wide = tensor_pb2.TensorProto(dtype=types_pb2.DT_INT32, int_val=[0])
    for size in (256, 2**40):
        wide.tensor_shape.dim.add().size = size
    requests.append(request(contract.DETOKENIZE, input_ids=wide))
    uniforms = to_tensor_proto(np.full([1, contract.SAMPLE_WIDTH], 0.5))
    sample = dict(
        input_ids=ids,
        layer_0_h=state,
        uniforms=uniforms,
        temperature=to_tensor_proto(np.ones([1])),
        top_k=to_tensor_proto(np.zeros([1], np.int32)),
        top_p=to_tensor_proto(np.ones([1])),
    )
    for steps in (0, contract.SAMPLE_WIDTH + 1, -5):
        requests.append(
            request(contract.SAMPLE, steps=to_tensor_proto(np.array([steps], np.int32)), **sample)
        )
    requests.append(
        request(
            contract.SAMPLE,
            steps=to_tensor_proto(np.array([1], np.int32)),
            **{**sample, "temperature": to_tensor_proto(np.array([np.nan]))},
        )
    )
    return requests


def valid_step(request_id: int = 1) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "charloom"
    request.inputs[contract.INPUT_IDS].CopyFrom(
        to_tensor_proto(np.array([[request_id % 5]], np.int32))
    )
    request.inputs["layer_0_h"].CopyFrom(to_tensor_proto(np.zeros([1, 16], np.float32)))
    return request


@pytest.mark.parametrize("batching", [False, True], ids=["plain", "batching"])
def test_hostile_requests_get_client_errors_in_bounded_memory(serve_toy, batching):
    server = serve_toy(batching=batching)
    stub = server.stub()
    assert (
        stub.Predict(valid_step(), timeout=30).outputs[contract.LOGITS].tensor_shape.dim[1].size
        == 5
    )
    before = peak_rss_bytes(server.pid)
    rng = random.Random(20261124)
    requests = targeted_requests() + [hostile_request(rng) for _ in range(REQUESTS)]
    unexpected = []
    for index, request in enumerate(requests):
        try:
            stub.Predict(request, timeout=30)
        except grpc.RpcError as exc:
            if exc.code() not in CLIENT_ERRORS:
                unexpected.append((index, exc.code().name, exc.details()[:200], str(request)[:300]))
            continue
    assert not unexpected, f"{len(unexpected)} requests got a server error, first: {unexpected[:3]}"
    growth = peak_rss_bytes(server.pid) - before
    print(f"peak RSS {before / 2**20:.0f} MiB before, grew by {growth / 2**20:.0f} MiB")
    assert growth < PEAK_RSS_GROWTH_BOUND, f"peak RSS grew by {growth / 2**20:.0f} MiB"
    assert server.alive()
    reply = stub.Predict(valid_step(2), timeout=30)
    assert reply.outputs[contract.LOGITS].tensor_shape.dim[1].size == 5


def hostile_bodies(rng: random.Random) -> list[bytes]:
    """JSON a REST client could send: malformed, deeply nested, out of range, mistyped, huge."""
    fixed = [
        b"",
        b"{",
        b"null",
        b"[]",
        b'"x"',
        b"{}" * 1000,
        b"[" * 5000 + b"]" * 5000,
        b'{"instances": ' + b"[" * 200 + b"1" + b"]" * 200 + b"}",
        b'{"signature_name": "detokenize", "instances": [[1e400]]}',
        b'{"signature_name": "detokenize", "instances": [[100000000000000000000000]]}',
        b'{"signature_name": "detokenize", "instances": [[NaN]]}',
        b'{"signature_name": "tokenize", "instances": [{"b64": 5}]}',
        b'{"signature_name": "tokenize", "inputs": {"text": [[["a"]]]}}',
        b'{"signature_name": "sample", "instances": [{"input_ids": [1]}]}',
        b'{"instances": [{"input_ids": [1], "layer_0_h": "x"}]}',
        b'{"instances": [{"input_ids": [1], "layer_0_h": [0.0]}]}',
        b"\xff\xfe\x00",
        '{"signature_name": "\u00e9\u0000", "instances": [1]}'.encode(),
        b'{"signature_name": "detokenize", "instances": [[' + b"9" * 5000 + b"]]}",
        b'{"signature_name": "tokenize", "instances": ["\\ud800"]}',
        b'{"signature_name": "\\udfff", "instances": [1]}',
        b'{"signature_name": "tokenize", "inputs": {"\\ud800": "a"}}',
        b'{"signature_name": "tokenize", "instances": [{"\\ud800": "a"}]}',
    ]
    values = [0, -1, 2**31, 1.5, "a", None, True, [], {}, {"b64": "AAAA"}, [[1, 2], [3]]]
    signatures = ["", "serving_default", "tokenize", "detokenize", "prefill", "sample", "nope"]
    names = ["input_ids", "layer_0_h", "text", "lengths", "x"]
    random_bodies = []
    for _ in range(100):
        document = {"signature_name": rng.choice(signatures)}
        key = rng.choice(["instances", "inputs", "instance"])
        if rng.random() < 0.5:
            document[key] = [
                {rng.choice(names): rng.choice(values) for _ in range(rng.randint(0, 3))}
                for _ in range(rng.randint(0, 3))
            ]
        else:
            document[key] = rng.choice(values)
        random_bodies.append(json.dumps(document).encode())
    return fixed + random_bodies


def test_hostile_rest_bodies_get_client_errors(serve_toy):
    server = serve_toy(args=["--rest-api-port", str(free_port())])
    url = f"http://127.0.0.1:{server.rest_port}"
    before = peak_rss_bytes(server.pid)
    unexpected = []
    for body in hostile_bodies(random.Random(7)):
        for path in ("/v1/models/charloom:predict", "/v1/models/charloom/labels/x:predict"):
            reply = requests.post(url + path, data=body, timeout=30)
            if reply.status_code not in (200, 400, 404, 413, 429):
                unexpected.append((reply.status_code, reply.text[:200], body[:120]))
            elif reply.status_code != 200:
                assert "error" in reply.json()
    assert not unexpected, f"{len(unexpected)} bodies got a server error, first: {unexpected[:3]}"
    assert peak_rss_bytes(server.pid) - before < PEAK_RSS_GROWTH_BOUND
    assert requests.get(url + "/v1/models/charloom", timeout=30).status_code == 200
