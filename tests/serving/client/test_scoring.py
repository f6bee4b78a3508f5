"""Scoring text through the `score` signature (in process, the Session path TF Serving runs):
each token's log-probability equals a numpy log-softmax of the step logits, across chunk
boundaries and after a context; bits per character; and a clear error for an export without
`score`."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from serving.client.errors import IncompatibleModelError, SamplingArgumentError
from serving.client.generator import TextGenerator
from serving.contract import PREFILL_WIDTH, SCORE

pytestmark = pytest.mark.slow  # a SavedModel in a Session, many calls
TEXT = "ROMEO: But soft, what light through yonder window breaks? " * 6  # > 2 chunks


@pytest.fixture(scope="module")
def generator(toy_gru_dir):
    with TextGenerator.from_saved_model(toy_gru_dir) as generator:
        yield generator


def step_logprobs(generator, text: str) -> list[float]:
    """log P(token i | tokens before it), i >= 1, from one `serving_default` call per token."""
    backend, ids = generator.backend, generator.vocabulary.encode(text)
    states = backend.signature.zero_states(1)
    out = []
    for i in range(len(ids) - 1):
        logits, states = backend.step(ids[None, i : i + 1], states)
        x = logits[0].astype(np.float64)
        out.append(x[ids[i + 1]] - x.max() - math.log(np.exp(x - x.max()).sum()))
    return out


def test_logprobs_equal_a_numpy_log_softmax_of_each_steps_logits(generator):
    assert len(TEXT) > 2 * PREFILL_WIDTH
    [scores] = generator.score(TEXT)
    assert "".join(scores.tokens) == TEXT and scores.logprobs[0] is None
    np.testing.assert_allclose(scores.logprobs[1:], step_logprobs(generator, TEXT), atol=1e-5)
    assert scores.characters == len(TEXT) - 1
    assert scores.nats == pytest.approx(-sum(scores.logprobs[1:]))


def test_a_context_scores_the_texts_first_token_and_rows_are_independent(generator):
    context, rest = TEXT[:140], TEXT[140:]
    [alone] = generator.score(TEXT)
    after, short = generator.score([rest, "ROMEO"], context=context)
    np.testing.assert_allclose(after.logprobs, alone.logprobs[140:], atol=1e-5)
    [short_alone] = generator.score(context + "ROMEO")
    np.testing.assert_allclose(short.logprobs, short_alone.logprobs[140:], atol=1e-5)


def test_bits_per_character_whole_and_in_windows(generator):
    [scores] = generator.score(TEXT)
    whole = generator.evaluate(TEXT)
    assert whole.tokens == len(TEXT) - 1
    assert whole.bits_per_character == pytest.approx(scores.nats / (len(TEXT) - 1) / math.log(2))
    windows = generator.evaluate(TEXT, window=20)
    count = len(TEXT) // 21
    expected = -sum(
        sum(generator.score(TEXT[i * 21 : (i + 1) * 21])[0].logprobs[1:]) for i in range(count)
    )
    assert windows.tokens == count * 20 and windows.nats == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("window", [0, -3, 2.5, True])
def test_a_bad_window_is_refused(generator, window):
    with pytest.raises(SamplingArgumentError, match="window must be an integer >= 1"):
        generator.evaluate(TEXT, window=window)


def test_unknown_characters_and_empty_texts_are_refused(generator):
    with pytest.raises(SamplingArgumentError, match="text 0 contains 1 character"):
        generator.score("ROMEO \u00e9")
    with pytest.raises(SamplingArgumentError, match="non-empty string"):
        generator.score([""])


def test_an_export_without_score_is_a_clear_error(toy_gru_dir):
    with TextGenerator.from_saved_model(toy_gru_dir) as generator:
        backend = generator.backend
        backend.signature = dataclasses.replace(
            backend.signature, signature_names=backend.signature.signature_names - {SCORE}
        )
        with pytest.raises(IncompatibleModelError, match="has no 'score' signature"):
            generator.score(TEXT)
