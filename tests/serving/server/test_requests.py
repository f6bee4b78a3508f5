"""Request limits are computed from declared shapes before anything is decoded."""

from __future__ import annotations

import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2, types_pb2

from serving.server.config import ServerLimits
from serving.server.requests import STRING_ELEMENT_BYTES, check_limits, decoded_bytes
from serving.server.status import ServingStatus
from serving.tensors import to_tensor_proto

LIMITS = ServerLimits(max_message_bytes=1_000_000, max_request_batch=256, max_prompt_length=4096)


def strings(shape, *values: bytes) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=list(values))
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    return proto


def test_numeric_inputs_cost_their_decoded_bytes():
    assert decoded_bytes(to_tensor_proto(np.zeros([3, 4], np.float32))) == 48
    assert decoded_bytes(to_tensor_proto(np.zeros([3, 4], np.float64))) == 96


def test_strings_cost_per_element_and_broadcast_values_are_counted_per_copy():
    assert decoded_bytes(strings([2], b"abc", b"de")) == 2 * STRING_ELEMENT_BYTES + 5
    # one value broadcast to 256 x 200000 elements: 51 M elements, each a copy of it
    count = 256 * 200_000
    assert decoded_bytes(strings([256, 200_000], b"a")) == count * (STRING_ELEMENT_BYTES + 1)
    assert decoded_bytes(strings([4])) == 4 * STRING_ELEMENT_BYTES  # no value: empty strings


def test_a_broadcast_string_shape_is_refused_before_decoding():
    with pytest.raises(ServingStatus, match=r"input 'text' of shape \[256,200000\] is larger"):
        check_limits({"text": strings([256, 200_000], b"a")}, LIMITS)


def test_inputs_are_bounded_together():
    half = to_tensor_proto(np.zeros([200, 1000], np.float32))  # 800 kB each: under the limit alone
    check_limits({"a": half}, LIMITS)
    with pytest.raises(
        ServingStatus, match="inputs decode to more than the server's limit of 1000000 bytes"
    ):
        check_limits({"a": half, "b": half}, LIMITS)
