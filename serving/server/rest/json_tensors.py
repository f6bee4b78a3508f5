"""JSON <-> tensors the way TF Serving's REST API converts them (tensorflow_serving/util/json_tensor.cc).

A predict body holds ``signature_name`` (optional) and either ``instances`` (the row format: one
entry per batch row, an object of inputs, or a bare value when the signature has one input) or
``inputs`` (the columnar format: whole tensors, an object of inputs or a bare value). Values take
the signature's dtype: numbers, booleans, UTF-8 strings or ``{"b64": "..."}`` for bytes. The
answer mirrors the request: ``predictions`` (rows) or ``outputs`` (columns). Every problem is an
INVALID_ARGUMENT naming the input.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from serving.server.status import invalid_argument
from serving.tensors import MAX_ARRAY_DIMS, dtype_name, to_tensor_proto

ROW, COLUMNAR = "row", "columnar"
_NUMPY = {
    types_pb2.DT_FLOAT: np.float32,
    types_pb2.DT_DOUBLE: np.float64,
    types_pb2.DT_HALF: np.float16,
    types_pb2.DT_INT8: np.int8,
    types_pb2.DT_UINT8: np.uint8,
    types_pb2.DT_INT16: np.int16,
    types_pb2.DT_UINT16: np.uint16,
    types_pb2.DT_INT32: np.int32,
    types_pb2.DT_UINT32: np.uint32,
    types_pb2.DT_INT64: np.int64,
    types_pb2.DT_UINT64: np.uint64,
    types_pb2.DT_BOOL: np.bool_,
}


def signature_name_of(document: Mapping[str, Any]) -> str:
    name = document.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid_argument("'signature_name' key must be a string value.")
    return name


def request_tensors(
    document: Mapping[str, Any], signature: meta_graph_pb2.SignatureDef
) -> tuple[dict[str, tensor_pb2.TensorProto], str]:
    """The request's inputs as TensorProtos, and its format (ROW or COLUMNAR)."""
    has_rows, has_columns = "instances" in document, "inputs" in document
    if has_rows == has_columns:
        raise invalid_argument(
            "Missing 'inputs' or 'instances' key"
            if not has_rows
            else "Not both 'inputs' and 'instances' can be supplied"
        )
    inputs = signature.inputs
    if has_rows:
        rows = document["instances"]
        if not isinstance(rows, list) or not rows:
            raise invalid_argument("Expecting 'instances' to be a non-empty list/array")
        if all(isinstance(row, dict) and not _is_b64(row) for row in rows):
            columns = {}
            for name in rows[0]:
                if name not in inputs:
                    raise invalid_argument(f"Input tensor alias not found in signature: {name}")
                missing = [i for i, row in enumerate(rows) if name not in row]
                if missing:
                    raise invalid_argument(
                        f"Expecting object with key '{name}' at item {missing[0]} of 'instances'"
                    )
                columns[name] = [row[name] for row in rows]
            return {
                name: _tensor(name, value, inputs[name].dtype) for name, value in columns.items()
            }, ROW
        if len(inputs) != 1 or any(isinstance(row, dict) and not _is_b64(row) for row in rows):
            raise invalid_argument(
                f"Expecting an object of named inputs per instance: the signature has "
                f"{len(inputs)} inputs ({', '.join(sorted(inputs))})"
            )
        (name,) = inputs
        return {name: _tensor(name, rows, inputs[name].dtype)}, ROW
    columns = document["inputs"]
    if not isinstance(columns, dict) or _is_b64(columns):
        if len(inputs) != 1:
            raise invalid_argument(
                f"Expecting an object of named 'inputs': the signature has {len(inputs)} "
                f"inputs ({', '.join(sorted(inputs))})"
            )
        (name,) = inputs
        columns = {name: columns}
    for name in columns:
        if name not in inputs:
            raise invalid_argument(f"Input tensor alias not found in signature: {name}")
    return {
        name: _tensor(name, value, inputs[name].dtype) for name, value in columns.items()
    }, COLUMNAR


def _tensor(name: str, value: Any, dtype: int) -> tensor_pb2.TensorProto:
    shape, flat = _shape_and_values(name, value)
    if dtype == types_pb2.DT_STRING:
        strings = np.array([_bytes(name, v) for v in flat], dtype=object).reshape(shape)
        del flat
        return to_tensor_proto(strings)
    numpy_type = _NUMPY.get(dtype)
    if numpy_type is None:
        raise invalid_argument(
            f"input '{name}' has dtype {dtype_name(dtype)}, which JSON cannot carry"
        )
    allowed = (
        _BOOL_TYPES
        if numpy_type is np.bool_
        else _INTEGER_TYPES
        if np.issubdtype(numpy_type, np.integer)
        else _NUMBER_TYPES
    )
    if not set(map(type, flat)) <= allowed:  # one pass in C; the offender is found only to name it
        wrong = next(v for v in flat if type(v) not in allowed)
        raise invalid_argument(
            f"JSON Value: {json.dumps(wrong)[:100]} Type: {type(wrong).__name__} is not of "
            f"expected type: {dtype_name(dtype)} (input '{name}')"
        )
    try:
        array = np.array(flat, dtype=numpy_type) if flat else np.zeros(0, numpy_type)
    except OverflowError:
        raise invalid_argument(
            f"input '{name}': a value is out of range for {dtype_name(dtype)}"
        ) from None
    del flat  # its objects are freed before the proto's copy is made
    return to_tensor_proto(array.reshape(shape))


_BOOL_TYPES = frozenset({bool})
_INTEGER_TYPES = frozenset({int})
_NUMBER_TYPES = frozenset({int, float})


def _shape_and_values(name: str, value: Any) -> tuple[tuple[int, ...], list]:
    """The shape of nested lists (rectangular, at most MAX_ARRAY_DIMS dimensions) and their values
    in row-major order, one level at a time so each step is a C-speed pass."""
    shape: list[int] = []
    level = [value]
    while True:
        kinds = set(map(type, level))
        if list not in kinds:
            return tuple(shape), level
        if kinds != {list}:
            raise invalid_argument(
                f"Expecting tensor of input '{name}' to be rectangular: dimension {len(shape)} "
                "mixes lists and values"
            )
        if len(shape) >= MAX_ARRAY_DIMS:
            raise invalid_argument(f"input '{name}' has more than {MAX_ARRAY_DIMS} dimensions")
        lengths = set(map(len, level))
        if len(lengths) > 1:
            raise invalid_argument(
                f"Expecting tensor of input '{name}' to be rectangular: its lists at dimension "
                f"{len(shape)} have lengths {sorted(lengths)[:2]}"
            )
        shape.append(lengths.pop() if lengths else 0)
        level = list(itertools.chain.from_iterable(level))


def _is_b64(value: Any) -> bool:
    """``{"b64": "..."}``: a bytes value, not an object of named inputs."""
    return isinstance(value, dict) and set(value) == {"b64"}


def _bytes(name: str, value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise invalid_argument(f"input '{name}': 'b64' value is not valid base64") from None
    raise invalid_argument(
        f"JSON Value: {json.dumps(value)} is not of expected type: string (input '{name}')"
    )


def response_body(outputs: Mapping[str, np.ndarray], form: str) -> bytes:
    """``{"predictions": rows}`` or ``{"outputs": columns}``, as TF Serving's MakeJsonFromTensors."""
    values = {name: _json_value(name, array) for name, array in outputs.items()}
    if form == COLUMNAR:
        body: Any = {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    else:
        sizes = {name: (array.shape[0] if array.ndim else None) for name, array in outputs.items()}
        batch = next(iter(sizes.values()))
        for name, size in sizes.items():
            if size is None or size != batch:
                raise invalid_argument(
                    f"Tensor name: {name} has inconsistent batch size: {size} expecting: {batch}"
                )
        if len(values) == 1:
            body = {"predictions": next(iter(values.values()))}
        else:
            body = {
                "predictions": [
                    {name: values[name][row] for name in values} for row in range(batch)
                ]
            }
    return json.dumps(body, separators=(",", ":"), allow_nan=True).encode("utf-8")


def _json_value(name: str, array: np.ndarray) -> Any:
    """Nested lists; NaN and infinities are written as NaN/Infinity, as TF Serving writes them."""
    if array.dtype == object:
        return (
            np.frompyfunc(lambda b: _string(name, b), 1, 1)(array).tolist()
            if array.ndim
            else _string(name, array.item())
        )
    return array.tolist()


def _string(name: str, value: bytes) -> Any:
    """Text as a string; bytes (an alias ending in ``_bytes``, or invalid UTF-8) as ``{"b64": ...}``."""
    if not name.endswith("_bytes"):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"b64": base64.b64encode(value).decode("ascii")}
