"""The sampling rule (serving/sampling_rule.py) in TensorFlow, for the ``sample`` signature.

The rule itself is written once, in the contract, against a small array interface; this module
provides that interface in TensorFlow ops (the client provides it in numpy), so a text is the
same whichever side samples.
"""

from __future__ import annotations

import tensorflow as tf

from serving.sampling_rule import RowSampling, choose_tokens, log_softmax, top_logprobs


class _TensorFlowOps:
    """The array operations the sampling rule needs, as TensorFlow ops (last axis)."""

    @staticmethod
    def float64(x):
        return tf.cast(x, tf.float64)

    @staticmethod
    def where(condition, x, y):
        if isinstance(x, (int, float)):
            x = tf.cast(x, y.dtype)
        if isinstance(y, (int, float)):
            y = tf.cast(y, x.dtype)
        return tf.where(condition, x, y)

    exp = staticmethod(tf.exp)

    @staticmethod
    def cumsum(x):
        return tf.cumsum(x, axis=-1)

    @staticmethod
    def total(x):
        return tf.reduce_sum(x, axis=-1, keepdims=True)

    @staticmethod
    def count(condition):
        return tf.reduce_sum(tf.cast(condition, tf.int32), axis=-1)

    @staticmethod
    def sort_descending(x):
        return tf.math.top_k(x, k=tf.shape(x)[-1], sorted=True)  # ties keep index order

    @staticmethod
    def unsort(sorted_x, order):
        return tf.gather(sorted_x, tf.argsort(order, axis=-1), batch_dims=1)

    @staticmethod
    def positions(x):
        return tf.range(tf.shape(x)[-1])[None, :]

    @staticmethod
    def argmax(x):
        return tf.argmax(x, axis=-1, output_type=tf.int32)

    @staticmethod
    def minimum(x, bound):
        return tf.minimum(x, bound)

    @staticmethod
    def width(x):
        return tf.shape(x)[-1]

    log = staticmethod(tf.math.log)

    @staticmethod
    def row_max(x):
        return tf.reduce_max(x, axis=-1, keepdims=True)


TENSORFLOW_OPS = _TensorFlowOps()


def sample_ids(logits: tf.Tensor, uniforms: tf.Tensor, rows: RowSampling) -> tf.Tensor:
    """logits [B, V] float32; uniforms [B] float64; each row's parameters -> ids [B] int32."""
    return choose_tokens(TENSORFLOW_OPS, logits, uniforms, rows)


def top_alternatives(logprobs: tf.Tensor, n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The rule's ``n`` most likely tokens of each row: ids [B, n] int32, log-probabilities."""
    ids, values = top_logprobs(TENSORFLOW_OPS, logprobs, n)
    return tf.cast(ids, tf.int32), values


def log_probabilities(logits: tf.Tensor) -> tf.Tensor:
    """logits [B, V] -> the contract's `log_softmax` [B, V] float64."""
    return log_softmax(TENSORFLOW_OPS, logits)
