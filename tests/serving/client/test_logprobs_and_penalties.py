"""Log-probabilities, penalties, min-p and logit bias through the client, on both sampling
paths (the `sample` signature in the graph, and `serving_default` sampled here), in process on
the Session path TF Serving runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from serving.client.errors import SamplingArgumentError
from serving.client.generator import TextGenerator

pytestmark = pytest.mark.slow  # SavedModels in a Session, many calls
PROMPT = "ROMEO:"
OPTIONS = dict(max_new_tokens=60, seed=11, num_samples=2)


@pytest.fixture(scope="module", params=[16, 1], ids=["in-graph", "client-side"])
def generator(request, toy_gru_dir):
    with TextGenerator.from_saved_model(toy_gru_dir, steps_per_call=request.param) as generator:
        yield generator


def log_softmax_reference(generator, text: str) -> list[np.ndarray]:
    """Each position's log-softmax [V] of the step logits after text[:i + 1] (numpy)."""
    backend, ids = generator.backend, generator.vocabulary.encode(text)
    states, out = backend.signature.zero_states(1), []
    for i in range(len(ids)):
        logits, states = backend.step(ids[None, i : i + 1], states)
        x = logits[0].astype(np.float64)
        out.append(x - x.max() - math.log(np.exp(x - x.max()).sum()))
    return out


def test_logprobs_are_the_log_softmax_of_each_steps_logits(generator):
    results = generator.generate(PROMPT, logprobs=5, **OPTIONS)
    for result in results:
        assert "".join(e.token for e in result.logprobs) == result.text
        reference = log_softmax_reference(generator, PROMPT + result.text)
        for i, entry in enumerate(result.logprobs):
            log_p = reference[len(PROMPT) - 1 + i]
            token_id = generator.vocabulary.token_ids[entry.token]
            assert entry.logprob == pytest.approx(log_p[token_id], abs=1e-5)
            best = np.argsort(-log_p, kind="stable")[:5]
            assert [t for t, _ in entry.top[:5]] == [generator.vocabulary.tokens[j] for j in best]
            np.testing.assert_allclose([v for _, v in entry.top[:5]], log_p[best], atol=1e-5)
            # the chosen token is added (6th) only when it is not among the top 5
            assert len(entry.top) == (5 if token_id in best else 6)


def test_both_paths_give_the_same_texts_and_logprobs(toy_gru_dir):
    options = dict(
        OPTIONS,
        logprobs=3,
        repetition_penalty=1.3,
        frequency_penalty=0.4,
        presence_penalty=-0.3,
        min_p=0.05,
        logit_bias={"e": 2.5, "Z": -100.0},
        temperature=0.9,
    )
    runs = []
    for steps in (16, 1):
        with TextGenerator.from_saved_model(toy_gru_dir, steps_per_call=steps) as generator:
            runs.append(generator.generate(PROMPT, **options))
    for graph, client in zip(*runs):
        assert graph.text == client.text and "Z" not in graph.text
        np.testing.assert_allclose(
            [e.logprob for e in graph.logprobs], [e.logprob for e in client.logprobs], atol=1e-5
        )
        assert [e.top[0][0] for e in graph.logprobs] == [e.top[0][0] for e in client.logprobs]


def test_neutral_values_leave_texts_unchanged(generator):
    plain = generator.generate(PROMPT, **OPTIONS)
    neutral = generator.generate(
        PROMPT,
        repetition_penalty=1.0,
        frequency_penalty=0.0,
        presence_penalty=0.0,
        min_p=0.0,
        logit_bias={},
        logprobs=0,
        **OPTIONS,
    )
    assert [r.text for r in neutral] == [r.text for r in plain]
    assert all(e.top == () for r in neutral for e in r.logprobs)
    assert all(r.logprobs is None for r in plain)


def test_penalties_change_the_text_and_greedy_follows_them(generator):
    greedy = dict(OPTIONS, temperature=0.0)
    plain = generator.generate(PROMPT, **greedy)
    penalized = generator.generate(PROMPT, frequency_penalty=2.0, **greedy)
    assert plain[0].text != penalized[0].text
    # a strongly penalized repeat: no token is repeated more than the vocabulary forces
    counts = {c: penalized[0].text.count(c) for c in set(penalized[0].text)}
    assert max(counts.values()) < max(plain[0].text.count(c) for c in set(plain[0].text))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"repetition_penalty": 0.0}, "repetition_penalty must be a finite number in (0, 100]"),
        ({"frequency_penalty": float("nan")}, "frequency_penalty must be a finite number"),
        ({"presence_penalty": 3}, "presence_penalty must be a finite number in [-2, 2]"),
        ({"min_p": 1.5}, "min_p must be a finite number in [0, 1]"),
        ({"logprobs": 21}, "logprobs must be an integer in [0, 20]"),
        ({"logprobs": 2.5}, "logprobs must be an integer in [0, 20]"),
        ({"logit_bias": {"e": 200}}, "logit_bias must be a finite number in [-100, 100]"),
        ({"logit_bias": {"é": 1}}, "logit_bias key 'é' is not a token of the model's vocabulary"),
    ],
)
def test_bad_values_are_refused_naming_the_parameter(generator, options, message):
    with pytest.raises(SamplingArgumentError) as caught:
        generator.generate(PROMPT, max_new_tokens=3, **options)
    assert message in str(caught.value)


def test_an_export_whose_sample_predates_them_is_driven_the_step_way(toy_gru_dir):
    import dataclasses

    from tests.helpers.recording_backend import RecordingBackend

    options = dict(OPTIONS, logprobs=2, presence_penalty=0.7)
    with TextGenerator.from_saved_model(toy_gru_dir, steps_per_call=1) as reference:
        expected = reference.generate(PROMPT, **options)
    with TextGenerator.from_saved_model(toy_gru_dir) as generator:
        inner = generator.backend
        inner.signature = dataclasses.replace(inner.signature, sample_extras=False)
        recording = RecordingBackend(inner)
        old = TextGenerator(recording, steps_per_call=16)
        got = old.generate(PROMPT, **options)
    assert [r.text for r in got] == [r.text for r in expected]
    assert [e.logprob for e in got[0].logprobs] == [e.logprob for e in expected[0].logprobs]
    assert "sample" not in {call.name for call in recording.calls}
