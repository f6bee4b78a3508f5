"""The sampling rule's penalties, min-p and bias against their documented formulas, in numpy
(serving/sampling_rule.py; the `sample` signature applies the same code in TensorFlow)."""

from __future__ import annotations

import numpy as np

from serving.client.sampling import SamplingParams, probabilities
from serving.sampling_rule import Penalties

LOGITS = np.array([[2.0, -1.0, 0.5, 3.0, -0.2]])
COUNTS = np.array([[0, 2, 1, 0, 0]], np.int32)  # tokens 1 and 2 were generated
PROMPT = np.array([[0, 0, 0, 1, 0]], np.int32)  # token 3 is in the prompt


def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def penalties(repetition=1.0, frequency=0.0, presence=0.0, bias=None):
    return Penalties(
        repetition=np.array([repetition]),
        frequency=np.array([frequency]),
        presence=np.array([presence]),
        logit_bias=np.zeros((1, 5), np.float32) if bias is None else np.array([bias], np.float32),
        output_counts=COUNTS,
        prompt_mask=PROMPT,
    )


def test_repetition_penalty_divides_positive_and_multiplies_negative_seen_logits():
    got = probabilities(LOGITS, SamplingParams(repetition_penalty=2.0), penalties(repetition=2.0))
    x = LOGITS[0].copy()
    x[1] *= 2.0  # generated, negative
    x[2] /= 2.0  # generated, positive
    x[3] /= 2.0  # in the prompt, positive
    np.testing.assert_allclose(got[0], softmax(x), rtol=1e-12)


def test_frequency_and_presence_penalties_subtract_per_count_and_once():
    params = SamplingParams(frequency_penalty=0.5, presence_penalty=0.25)
    got = probabilities(LOGITS, params, penalties(frequency=0.5, presence=0.25))
    x = LOGITS[0] - 0.5 * COUNTS[0] - 0.25 * (COUNTS[0] > 0)  # the prompt does not count
    np.testing.assert_allclose(got[0], softmax(x), rtol=1e-12)


def test_logit_bias_is_added_before_everything():
    bias = [0.0, 4.0, 0.0, -100.0, 0.0]
    got = probabilities(LOGITS, SamplingParams(logit_bias={"b": 4.0}), penalties(bias=bias))
    np.testing.assert_allclose(got[0], softmax(LOGITS[0] + bias), rtol=1e-12)


def test_min_p_cuts_tokens_below_a_fraction_of_the_most_likely_and_renormalises():
    got = probabilities(LOGITS, SamplingParams(min_p=0.3))
    p = softmax(LOGITS[0])
    kept = np.where(p >= 0.3 * p.max(), p, 0.0)
    np.testing.assert_allclose(got[0], kept / kept.sum(), rtol=1e-12)
    assert (got[0] == 0).sum() == (kept == 0).sum() > 0


def test_temperature_applies_after_the_penalties():
    params = SamplingParams(temperature=0.5, frequency_penalty=1.0)
    got = probabilities(LOGITS, params, penalties(frequency=1.0))
    np.testing.assert_allclose(got[0], softmax((LOGITS[0] - COUNTS[0]) / 0.5), rtol=1e-12)
