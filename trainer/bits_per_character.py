"""Bits per character of the original text, whatever the tokens: the scale every model is ranked on.

Loss stays per token, but a word model's token stands for several characters, so its loss is
not comparable with a character model's. Bits per character are the total negative log
likelihood of the targets, in bits, divided by the characters they spell:
``sum(nats) / sum(characters of the target tokens) / ln 2``. For a character model that is its
loss / ln 2 (trainer/callbacks.py computes it so, at no cost); a word model compiles this metric.
"""

from __future__ import annotations

import math

import keras
import numpy as np


class BitsPerCharacter(keras.metrics.Metric):
    """``bpc`` (and ``val_bpc``): nats summed over targets / their characters / ln 2."""

    def __init__(self, token_lengths: np.ndarray, name: str = "bpc", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self._token_lengths = np.asarray(token_lengths, dtype=np.float32)
        self.nats = self.add_variable(shape=(), initializer="zeros", name="nats", aggregation="sum")
        self.characters = self.add_variable(
            shape=(), initializer="zeros", name="characters", aggregation="sum"
        )

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true = keras.ops.cast(y_true, "int32")
        nats = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        characters = keras.ops.take(keras.ops.convert_to_tensor(self._token_lengths), y_true)
        self.nats.assign_add(keras.ops.sum(keras.ops.cast(nats, "float32")))
        self.characters.assign_add(keras.ops.sum(characters))

    def result(self):
        return self.nats / keras.ops.maximum(self.characters, 1.0) / math.log(2.0)

    def reset_state(self) -> None:
        self.nats.assign(0.0)
        self.characters.assign(0.0)

    def get_config(self) -> dict:
        return {**super().get_config(), "token_lengths": self._token_lengths.tolist()}
