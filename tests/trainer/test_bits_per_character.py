"""Bits per character: total nats over the characters the target tokens spell, whatever the tokens."""

import math

import numpy as np
import pytest

from trainer.bits_per_character import BitsPerCharacter


def nats(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return -np.take_along_axis(log_probs, targets[..., None], -1)[..., 0]


def test_word_tokens_are_divided_by_the_characters_they_spell():
    rng = np.random.default_rng(0)
    lengths = np.array([1, 2, 3, 1], np.int32)
    logits = rng.normal(size=(2, 5, 4)).astype(np.float32)
    targets = rng.integers(0, 4, size=(2, 5)).astype(np.int32)
    metric = BitsPerCharacter(lengths)
    metric.update_state(targets[:1], logits[:1])
    metric.update_state(targets[1:], logits[1:])  # accumulates over batches, as over an epoch
    expected = nats(logits, targets).sum() / lengths[targets].sum() / math.log(2)
    assert float(metric.result()) == pytest.approx(expected, rel=1e-5)
    metric.reset_state()
    metric.update_state(targets, logits)
    assert float(metric.result()) == pytest.approx(expected, rel=1e-5)


def test_for_characters_it_is_the_mean_loss_in_bits():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3, 7, 5)).astype(np.float32)
    targets = rng.integers(0, 5, size=(3, 7)).astype(np.int32)
    metric = BitsPerCharacter(np.ones(5, np.int32))
    metric.update_state(targets, logits)
    assert float(metric.result()) == pytest.approx(
        nats(logits, targets).mean() / math.log(2), rel=1e-5
    )
