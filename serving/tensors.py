"""numpy <-> TensorProto without TensorFlow ops: the hot path of every Predict call.

Numeric tensors travel as raw little-endian ``tensor_content`` bytes (what TF Serving and
``tf.make_tensor_proto`` produce for arrays); the typed ``*_val`` fields are read too, with the
rules of TensorFlow's ``Tensor::FromProto``, so protos from any client decode as on TF Serving.
"""

from __future__ import annotations

import numpy as np
from tensorflow.core.framework import tensor_pb2, types_pb2

# DataType enum <-> numpy dtype, and the repeated field that carries values when tensor_content is empty.
_DTYPES: dict[int, tuple[np.dtype, str]] = {
    types_pb2.DT_FLOAT: (np.dtype("<f4"), "float_val"),
    types_pb2.DT_DOUBLE: (np.dtype("<f8"), "double_val"),
    types_pb2.DT_HALF: (np.dtype("<f2"), "half_val"),
    types_pb2.DT_INT8: (np.dtype("i1"), "int_val"),
    types_pb2.DT_UINT8: (np.dtype("u1"), "int_val"),
    types_pb2.DT_INT16: (np.dtype("<i2"), "int_val"),
    types_pb2.DT_UINT16: (np.dtype("<u2"), "int_val"),
    types_pb2.DT_INT32: (np.dtype("<i4"), "int_val"),
    types_pb2.DT_UINT32: (np.dtype("<u4"), "uint32_val"),
    types_pb2.DT_INT64: (np.dtype("<i8"), "int64_val"),
    types_pb2.DT_UINT64: (np.dtype("<u8"), "uint64_val"),
    types_pb2.DT_BOOL: (np.dtype("?"), "bool_val"),
}
_BY_NUMPY = {np_dtype: enum for enum, (np_dtype, _) in _DTYPES.items()}


class TensorCodecError(ValueError):
    """A TensorProto cannot be decoded (unsupported dtype, element count does not match shape)."""


def dtype_name(enum_value: int) -> str:
    """'DT_FLOAT' -> 'float', as TF Serving names dtypes in its messages."""
    return _enum_name(enum_value).removeprefix("DT_").lower()


def to_tensor_proto(value: np.ndarray | list | str | bytes) -> tensor_pb2.TensorProto:
    """Encode an array; ``str``/``bytes`` arrays become DT_STRING (UTF-8)."""
    proto = tensor_pb2.TensorProto()
    fill_tensor_proto(proto, np.asarray(value))
    return proto


def fill_tensor_proto(proto: tensor_pb2.TensorProto, array: np.ndarray) -> None:
    """Encode an array into an empty ``proto`` in place (a response's map entry: no copy)."""
    if array.dtype.kind in ("U", "S", "O"):
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend(
            v.encode("utf-8") if isinstance(v, str) else bytes(v)
            for v in array.reshape(-1).tolist()
        )
    else:
        native = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
        enum = _BY_NUMPY.get(np.dtype(native))
        if enum is None:
            raise TensorCodecError(f"unsupported dtype {array.dtype}")
        proto.dtype = enum
        proto.tensor_content = np.ascontiguousarray(array, dtype=native).tobytes()
    dims = proto.tensor_shape.dim
    for size in array.shape:
        dims.add().size = int(size)


MAX_DIMS = 254  # TensorFlow's TensorShape::MaxDimensions()
MAX_ARRAY_DIMS = 64  # numpy's limit: a tensor of more dimensions cannot be decoded here


def declared_shape(proto: tensor_pb2.TensorProto) -> tuple[int, ...]:
    """The proto's shape, checked as ``Tensor::FromProto`` checks it (TensorCodecError if invalid)."""
    if proto.tensor_shape.unknown_rank:
        raise TensorCodecError("tensor shape has an unknown rank")
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    if len(shape) > MAX_DIMS:
        raise TensorCodecError(f"tensor shape has {len(shape)} dimensions, more than {MAX_DIMS}")
    if len(shape) > MAX_ARRAY_DIMS:
        raise TensorCodecError(
            f"tensor shape has {len(shape)} dimensions, more than this server decodes "
            f"({MAX_ARRAY_DIMS})"
        )
    if any(d < 0 for d in shape):
        raise TensorCodecError(f"tensor shape {list(shape)} has a negative dimension")
    count = 1
    for d in shape:
        count *= d
    if count >= 2**63:
        raise TensorCodecError(f"tensor shape {list(shape)} has too many elements")
    return shape


def from_tensor_proto(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """Decode to a numpy array as TensorFlow's ``Tensor::FromProto`` does (TF Serving's parser).

    ``tensor_content`` must hold exactly the shape's bytes. Typed ``*_val`` fields may hold fewer
    values than the shape (the last one is repeated; none means zeros) or more (the extra ones are
    ignored). Strings become an object array of ``bytes``. TensorCodecError where FromProto fails.
    """
    shape = declared_shape(proto)
    count = int(np.prod(shape, dtype=np.int64))
    if proto.dtype == types_pb2.DT_STRING:
        if proto.tensor_content:
            raise TensorCodecError("string tensors cannot use tensor_content here")
        values = _fill(list(proto.string_val), count, b"")
        return (
            np.array(values, dtype=object).reshape(shape)
            if count
            else np.empty(shape, dtype=object)
        )
    if proto.dtype not in _DTYPES:
        raise TensorCodecError(f"unsupported dtype {_enum_name(proto.dtype)}")
    np_dtype, field = _DTYPES[proto.dtype]
    if proto.tensor_content:
        if len(proto.tensor_content) != count * np_dtype.itemsize:
            raise TensorCodecError(
                f"tensor_content has {len(proto.tensor_content)} bytes, shape "
                f"{list(shape)} of {dtype_name(proto.dtype)} needs "
                f"{count * np_dtype.itemsize}"
            )
        return np.frombuffer(proto.tensor_content, dtype=np_dtype).reshape(shape)
    values = getattr(proto, field)
    if proto.dtype == types_pb2.DT_HALF:
        array = np.array(values, dtype=np.uint16).view(np.float16)
    else:
        array = np.array(values, dtype=np_dtype)
    if array.size >= count:
        return array[:count].reshape(shape)
    if array.size == 0:
        return np.zeros(shape, dtype=np_dtype)
    return np.concatenate([array, np.full(count - array.size, array[-1], dtype=np_dtype)]).reshape(
        shape
    )


def _fill(values: list, count: int, empty: object) -> list:
    if len(values) >= count:
        return values[:count]
    return values + [values[-1] if values else empty] * (count - len(values))


def _enum_name(enum_value: int) -> str:
    try:
        return types_pb2.DataType.Name(enum_value)
    except ValueError:
        return f"dtype enum {enum_value}"
