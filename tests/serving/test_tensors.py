import numpy as np
import pytest
import tensorflow as tf

from serving.tensors import TensorCodecError, dtype_name, from_tensor_proto, to_tensor_proto


@pytest.mark.parametrize(
    "array",
    [
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.array([[1], [2]], dtype=np.int32),
        np.array([1, -2], dtype=np.int64),
        np.zeros((0, 4), dtype=np.float32),
        np.array(3.5, dtype=np.float64),
        np.array([True, False]),
    ],
)
def test_round_trip_and_tf_agrees(array):
    proto = to_tensor_proto(array)
    np.testing.assert_array_equal(from_tensor_proto(proto), array)
    np.testing.assert_array_equal(tf.make_ndarray(proto), array)
    np.testing.assert_array_equal(from_tensor_proto(tf.make_tensor_proto(array)), array)


def test_strings_utf8():
    proto = to_tensor_proto(np.array(["ROMEO:", "床前🌙"]))
    assert from_tensor_proto(proto).tolist() == [b"ROMEO:", "床前🌙".encode()]
    assert tf.make_ndarray(proto).tolist() == [b"ROMEO:", "床前🌙".encode()]


def test_typed_value_fields_from_other_clients():
    proto = tf.make_tensor_proto([1.0, 2.0], dtype=tf.float32)
    proto.ClearField("tensor_content")
    proto.float_val.extend([1.0, 2.0])
    np.testing.assert_array_equal(from_tensor_proto(proto), [1.0, 2.0])
    broadcast = tf.make_tensor_proto(0.0, dtype=tf.float32, shape=[2, 3])
    assert from_tensor_proto(broadcast).shape == (2, 3)


def test_mismatched_content_is_an_error():
    proto = to_tensor_proto(np.zeros((2, 2), dtype=np.float32))
    proto.tensor_shape.dim[0].size = 3
    with pytest.raises(TensorCodecError, match=r"has 16 bytes, shape \[3, 2\] of float needs 24"):
        from_tensor_proto(proto)


def test_dtype_name():
    assert dtype_name(to_tensor_proto(np.zeros(1, np.float32)).dtype) == "float"
