"""numpy <-> TensorProto without TensorFlow ops: the hot path of every Predict call.

Numeric tensors travel as raw little-endian ``tensor_content`` bytes (what TF Serving and
``tf.make_tensor_proto`` produce for arrays); the typed ``*_val`` fields are read too, including
the single-value broadcast form, so protos from any client decode.
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
    return types_pb2.DataType.Name(enum_value).removeprefix("DT_").lower()


def to_tensor_proto(value: np.ndarray | list | str | bytes) -> tensor_pb2.TensorProto:
    """Encode an array; ``str``/``bytes`` arrays become DT_STRING (UTF-8)."""
    proto = tensor_pb2.TensorProto()
    fill_tensor_proto(proto, np.asarray(value))
    return proto


def fill_tensor_proto(proto: tensor_pb2.TensorProto, array: np.ndarray) -> None:
    """Encode an array into an empty ``proto`` in place (a response's map entry: no copy)."""
    if array.dtype.kind in ("U", "S", "O"):
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend(v.encode("utf-8") if isinstance(v, str) else bytes(v)
                                for v in array.reshape(-1).tolist())
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


def from_tensor_proto(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """Decode to a numpy array (strings become an object array of ``bytes``)."""
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    if any(d < 0 for d in shape):
        raise TensorCodecError(f"tensor shape {list(shape)} has an unknown dimension")
    count = int(np.prod(shape, dtype=np.int64))
    if proto.dtype == types_pb2.DT_STRING:
        values = list(proto.string_val)
        if len(values) == 1 and count != 1:
            values = values * count
        if len(values) != count:
            raise TensorCodecError(f"string tensor of shape {list(shape)} has {len(values)} values")
        return np.array(values, dtype=object).reshape(shape)
    if proto.dtype not in _DTYPES:
        raise TensorCodecError(f"unsupported dtype {types_pb2.DataType.Name(proto.dtype)}")
    np_dtype, field = _DTYPES[proto.dtype]
    if proto.tensor_content:
        if len(proto.tensor_content) != count * np_dtype.itemsize:
            raise TensorCodecError(f"tensor_content has {len(proto.tensor_content)} bytes, shape "
                                   f"{list(shape)} of {dtype_name(proto.dtype)} needs "
                                   f"{count * np_dtype.itemsize}")
        return np.frombuffer(proto.tensor_content, dtype=np_dtype).reshape(shape)
    values = getattr(proto, field)
    if proto.dtype == types_pb2.DT_HALF:
        array = np.array(values, dtype=np.uint16).view(np.float16)
    else:
        array = np.array(values, dtype=np_dtype)
    if array.size == 1 and count != 1:
        array = np.full(count, array[0], dtype=np_dtype)
    elif array.size == 0 and count:
        array = np.zeros(count, dtype=np_dtype)
    if array.size != count:
        raise TensorCodecError(f"tensor of shape {list(shape)} has {array.size} values")
    return array.reshape(shape)
