"""A REST body's parse: bounded memory per byte, client errors for what Python's parser cannot
hold (huge integers, lone surrogates), and brackets inside strings not mistaken for structure."""

from __future__ import annotations

import tracemalloc

import pytest
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from serving.server.rest.json_body import (
    HEAVY_ALLOWANCE,
    PEAK_BYTES_PER_BODY_BYTE,
    SURROGATE_ERROR,
    heavy_limit,
    parse_body,
)
from serving.server.rest.json_tensors import request_tensors
from serving.server.status import ServingStatus

SIZE = 2 * 1024 * 1024
# What the allowance of heavy values may cost at most, besides the per-byte multiple.
ALLOWANCE_BYTES = HEAVY_ALLOWANCE * 128


def refusal(body: bytes) -> str:
    with pytest.raises(ServingStatus) as caught:
        parse_body(body)
    assert caught.value.code.name == "INVALID_ARGUMENT"
    return caught.value.message


def repeated(item: bytes, size: int = SIZE) -> bytes:
    return b'{"inputs": [' + item * (size // len(item)) + item.rstrip(b",") + b"]}"


def test_a_number_beyond_pythons_digit_limit_is_a_client_error():
    assert "more than 4300 digits" in refusal(b'{"inputs": [' + b"7" * 5000 + b"]}")


@pytest.mark.parametrize(
    "body",
    [
        b'{"inputs": ["\\ud800"]}',
        b'{"inputs": ["a\\udc00b"]}',
        b'{"signature_name": "\\uDBFF", "inputs": [1]}',
        b'{"inputs": {"\\ud800": "a"}}',
        b'{"instances": [{"\\ud800x": 1}]}',
        b'{"inputs": ["\xed\xa0\x80"]}',  # a surrogate's UTF-8 bytes, which Python would decode
    ],
)
def test_a_lone_surrogate_anywhere_is_a_client_error(body):
    assert refusal(body) == SURROGATE_ERROR


def test_surrogate_pairs_and_escaped_backslashes_are_text():
    document = parse_body(b'{"inputs": ["\\ud83d\\ude00", "\\\\ud800"]}')
    assert document["inputs"] == ["\U0001f600", "\\ud800"]


@pytest.mark.parametrize(
    "item", [b"[],", b"{},", b'{"b64": ""},', b'"ab",', b'[{"x": [[]]}],'], ids=repr
)
def test_bodies_of_small_containers_or_strings_are_refused_cheaply(item):
    body = repeated(item)
    tracemalloc.start()
    try:
        message = refusal(body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "more than this server parses" in message
    assert peak < 2 * len(body)


def test_brackets_and_quotes_inside_strings_are_not_structure():
    text = b'[{\\"' * (SIZE // 4)
    document = parse_body(b'{"inputs": ["' + text + b'"]}')
    assert len(document["inputs"][0]) == 3 * (SIZE // 4)


def test_the_limit_grows_with_the_body():
    assert heavy_limit(0) == HEAVY_ALLOWANCE
    assert heavy_limit(SIZE) > heavy_limit(SIZE // 2) > HEAVY_ALLOWANCE


def signature(dtype: int) -> meta_graph_pb2.SignatureDef:
    result = meta_graph_pb2.SignatureDef()
    result.inputs["x"].dtype = dtype
    return result


@pytest.mark.parametrize(
    "item, dtype",
    [
        (b"257,", types_pb2.DT_INT32),  # the costliest numbers: not Python's cached small ints
        (b"1.5,", types_pb2.DT_FLOAT),
        (b"[1,2,3,4,5,6,7],", types_pb2.DT_INT64),  # as many lists as the limit lets through
        (b'"abcdefghijklmn",', types_pb2.DT_STRING),  # as many strings as the limit lets through
        (
            b'{"b64": "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5eg=="},',
            7,
        ),
    ],
    ids=["ints", "floats", "lists", "strings", "b64"],
)
def test_what_a_body_costs_is_bounded_by_its_size(item, dtype):
    body = repeated(item)
    tracemalloc.start()
    try:
        tensors, _ = request_tensors(parse_body(body), signature(dtype))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert tensors["x"].tensor_shape.dim[0].size > SIZE // 100
    assert peak < PEAK_BYTES_PER_BODY_BYTE * len(body) + ALLOWANCE_BYTES
