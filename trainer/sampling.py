"""Choosing the next character inside the graph, for the ``sample`` signature.

The rule is the client's (serving/sampling.py), so a text is the same whichever side samples:
logits / temperature, keep the ``top_k`` most likely, softmax, keep the smallest set of most
likely characters whose mass reaches ``top_p``, renormalise; then the chosen id is the first
whose cumulative probability (in vocabulary order) reaches ``u`` times the total, with ``u`` in
(0, 1] supplied by the caller. Temperature 0 is greedy (argmax; ``u`` unused). All in float64,
as numpy does, and per row, so rows with different options can share a batch.
"""

from __future__ import annotations

import tensorflow as tf


def sample_ids(logits: tf.Tensor, uniforms: tf.Tensor, temperature: tf.Tensor, top_k: tf.Tensor,
               top_p: tf.Tensor) -> tf.Tensor:
    """logits [B, V] float32; uniforms, temperature, top_p [B] float64; top_k [B] int32 -> ids [B] int32."""
    vocab = tf.shape(logits)[1]
    greedy = tf.equal(temperature, 0.0)
    x = tf.cast(logits, tf.float64) / tf.where(greedy, tf.ones_like(temperature), temperature)[:, None]
    sorted_x, order = tf.math.top_k(x, k=vocab, sorted=True)  # descending; ties keep index order
    rank = tf.range(vocab)[None, :]
    k = top_k[:, None]
    keep_k = (k <= 0) | (k >= vocab) | (rank < k)
    sorted_x = tf.where(keep_k, sorted_x, tf.constant(-float("inf"), tf.float64))
    p = tf.exp(sorted_x - sorted_x[:, :1])
    p = p / tf.reduce_sum(p, axis=-1, keepdims=True)
    mass_before = tf.cumsum(p, axis=-1) - p
    keep_p = (top_p[:, None] >= 1.0) | (mass_before < top_p[:, None])  # the first is always kept
    p = tf.where(keep_p, p, tf.zeros_like(p))
    p = p / tf.reduce_sum(p, axis=-1, keepdims=True)
    probs = tf.gather(p, tf.argsort(order, axis=-1), batch_dims=1)  # back to vocabulary order
    cdf = tf.cumsum(probs, axis=-1)
    chosen = tf.reduce_sum(tf.cast(cdf < uniforms[:, None] * cdf[:, -1:], tf.int32), axis=-1)
    chosen = tf.minimum(chosen, vocab - 1)
    return tf.where(greedy, tf.argmax(logits, axis=-1, output_type=tf.int32), chosen)
