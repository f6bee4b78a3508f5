"""The ``tokenize`` and ``detokenize`` signatures' graphs: serving/contract.py's encoding rule in
core TensorFlow ops (TF Serving has no jieba, and runs no Python).

- A character vocabulary (code points in order) maps each code point by binary search.
- A word vocabulary encodes by greedy longest match: for every position, the longest token of
  at most `MAX_TOKEN_CHARS` characters starting there is looked up in a hash table (all
  positions and lengths at once); the positions where tokens start are then found by pointer
  doubling over "next start = position + token length" (log2 of the length steps, no per-token
  loop). Detokenize is a join of the tokens' strings.

Both return ``NO_ID`` for a character no token starts with, ``0`` past a text's end, and refuse
texts longer than ``MAX_PROMPT_TOKENS`` characters (bytes are checked first, so a huge string is
refused before it is decoded).
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from serving import contract
from trainer.vocabulary import Vocabulary

_TOO_LONG = f"tokenize takes texts of at most {contract.MAX_PROMPT_TOKENS} characters"


def _decode(text: tf.Tensor) -> tf.RaggedTensor:
    """Code points of each text, after the length checks."""
    limit = contract.MAX_PROMPT_TOKENS
    checks = [tf.debugging.assert_less_equal(tf.strings.length(text), 4 * limit, message=_TOO_LONG)]
    with tf.control_dependencies(checks):
        text = tf.identity(text)
    codepoints = tf.strings.unicode_decode(
        text, "UTF-8", errors="strict"
    )  # invalid UTF-8: InvalidArgument
    lengths = tf.cast(codepoints.row_lengths(), tf.int32)
    with tf.control_dependencies(
        [tf.debugging.assert_less_equal(lengths, limit, message=_TOO_LONG)]
    ):
        return tf.RaggedTensor.from_row_lengths(
            tf.identity(codepoints.flat_values), codepoints.row_lengths()
        )


class CharTokenizer(tf.Module):
    """One token per character: the vocabulary's code points, searched in order."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        super().__init__(name="char_tokenizer")
        self._size = vocabulary.size
        self._codepoints = tf.constant(
            np.array([ord(t) for t in vocabulary.tokens], dtype=np.int32)
        )

    def tokenize(self, text: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        codepoints = _decode(text)
        flat = codepoints.flat_values
        index = tf.searchsorted(self._codepoints, flat, side="left", out_type=tf.int32)
        found = tf.gather(self._codepoints, tf.minimum(index, self._size - 1)) == flat
        ids = codepoints.with_flat_values(tf.where(found, index, contract.NO_ID))
        return (
            ids.to_tensor(default_value=0, shape=[None, contract.MAX_PROMPT_TOKENS]),
            tf.cast(codepoints.row_lengths(), tf.int32),
        )

    def detokenize(self, ids: tf.RaggedTensor) -> tf.Tensor:
        """The text of each row of ``ids`` [B, (tokens)]."""
        return tf.strings.unicode_encode(tf.gather(self._codepoints, ids), "UTF-8")


class LongestMatchTokenizer(tf.Module):
    """Tokens of several characters: greedy longest match through a string -> id hash table."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        super().__init__(name="longest_match_tokenizer")
        self._longest = max(len(t) for t in vocabulary.tokens)
        self._strings = tf.constant(list(vocabulary.tokens), dtype=tf.string)
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                self._strings, tf.range(vocabulary.size, dtype=tf.int32)
            ),
            default_value=contract.NO_ID,
        )

    def tokenize(self, text: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        codepoints = _decode(text)
        lengths = tf.cast(codepoints.row_lengths(), tf.int32)
        dense = codepoints.to_tensor(default_value=-1)  # [B, N]
        batch, n = tf.shape(dense)[0], tf.shape(dense)[1]
        padded = tf.pad(dense, [[0, 0], [0, self._longest]], constant_values=-1)
        positions = tf.range(n)
        windows = tf.gather(
            padded, positions[:, None] + tf.range(self._longest)[None, :], axis=1
        )  # [B, N, L]
        best_id = tf.fill([batch, n], contract.NO_ID)
        best_length = tf.ones([batch, n], tf.int32)
        for k in range(1, self._longest + 1):  # the longest match wins: later lengths override
            piece = windows[:, :, :k]
            complete = tf.reduce_all(piece >= 0, axis=-1)
            flat = tf.RaggedTensor.from_tensor(tf.reshape(tf.maximum(piece, 0), [-1, k]))
            strings = tf.reshape(tf.strings.unicode_encode(flat, "UTF-8"), [batch, n])
            found = self._table.lookup(strings)
            hit = complete & (found >= 0)
            best_id = tf.where(hit, found, best_id)
            best_length = tf.where(hit, k, best_length)
        starts = _token_starts(best_length, lengths)
        ids = tf.ragged.boolean_mask(best_id, starts)
        return (
            ids.to_tensor(default_value=0, shape=[None, contract.MAX_PROMPT_TOKENS]),
            tf.cast(ids.row_lengths(), tf.int32),
        )

    def detokenize(self, ids: tf.RaggedTensor) -> tf.Tensor:
        """The text of each row of ``ids`` [B, (tokens)]."""
        return tf.strings.reduce_join(tf.gather(self._strings, ids), axis=-1)


def _token_starts(step: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
    """bool [B, N]: the positions greedy matching visits from 0, given each position's token
    length ``step`` [B, N]. Pointer doubling: after round j, every position reached within 2**j
    tokens is marked, so log2(N) rounds of gathers replace a loop over tokens."""
    batch, n = tf.shape(step)[0], tf.shape(step)[1]
    end = n  # a sink position: every jump past the text lands there
    jump = tf.concat(
        [tf.minimum(tf.range(n)[None, :] + step, end), tf.fill([batch, 1], end)], axis=1
    )
    reached = tf.concat(
        [tf.ones([batch, 1], tf.bool), tf.zeros([batch, n], tf.bool)], axis=1
    )  # [B, N + 1]
    rows = tf.range(batch)[:, None]
    for _ in range(math.ceil(math.log2(contract.MAX_PROMPT_TOKENS + 1)) + 1):
        targets = tf.where(reached, jump, end)
        indices = tf.stack([tf.broadcast_to(rows, tf.shape(targets)), targets], axis=-1)
        reached = reached | (
            tf.scatter_nd(indices, tf.ones_like(targets, tf.int32), [batch, n + 1]) > 0
        )
        jump = tf.gather(jump, jump, batch_dims=1)
    return reached[:, :n] & (tf.range(n)[None, :] < lengths[:, None])


def make_tokenizer(vocabulary: Vocabulary) -> CharTokenizer | LongestMatchTokenizer:
    if all(len(t) == 1 for t in vocabulary.tokens):
        return CharTokenizer(vocabulary)
    return LongestMatchTokenizer(vocabulary)
