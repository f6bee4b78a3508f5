import math

import numpy as np
import pytest

from serving.client.errors import SamplingArgumentError
from serving.client.sampling import (
    SamplingParams,
    probabilities,
    resolve_seed,
    row_generator,
    sample_next,
)

LOGITS = np.log(np.array([[0.05, 0.5, 0.15, 0.3]], dtype=np.float32))


def generators(n, seed=7):
    return [row_generator(seed, i) for i in range(n)]


def test_greedy_is_argmax_and_uses_no_randomness():
    logits = np.array([[0.1, 3.0, -1.0], [5.0, 0.0, 4.9]], dtype=np.float32)
    gens = generators(2)
    ids = sample_next(logits, SamplingParams(temperature=0), gens)
    assert ids.tolist() == [1, 0] and ids.dtype == np.int32
    fresh = generators(2)
    assert [g.random() for g in gens] == [g.random() for g in fresh]


def test_top_k_one_is_greedy_at_any_temperature():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 30)).astype(np.float32)
    ids = sample_next(logits, SamplingParams(temperature=5.0, top_k=1), generators(50))
    assert ids.tolist() == np.argmax(logits, axis=-1).tolist()


def test_top_k_keeps_exactly_the_k_most_likely():
    p = probabilities(LOGITS, SamplingParams(top_k=2))
    assert np.flatnonzero(p[0]).tolist() == [1, 3]
    np.testing.assert_allclose(p[0, [1, 3]], [0.5 / 0.8, 0.3 / 0.8])


@pytest.mark.parametrize(
    "top_p, kept", [(0.4, [1]), (0.75, [1, 3]), (0.9, [1, 2, 3]), (1.0, [0, 1, 2, 3])]
)
def test_top_p_keeps_the_smallest_set_reaching_p(top_p, kept):
    p = probabilities(LOGITS, SamplingParams(top_p=top_p))
    assert np.flatnonzero(p[0]).tolist() == kept
    assert math.isclose(p.sum(), 1.0)


def test_temperature_scales_logits():
    p = probabilities(LOGITS, SamplingParams(temperature=2.0))
    expected = np.exp(LOGITS[0] / 2) / np.exp(LOGITS[0] / 2).sum()
    np.testing.assert_allclose(p[0], expected, rtol=1e-6)


def test_samples_follow_the_distribution_and_never_pick_cut_tokens():
    rows = 20_000
    logits = np.repeat(LOGITS, rows, axis=0)
    ids = sample_next(logits, SamplingParams(temperature=1.0), generators(rows))
    freq = np.bincount(ids, minlength=4) / rows
    np.testing.assert_allclose(freq, [0.05, 0.5, 0.15, 0.3], atol=0.015)
    cut = sample_next(logits, SamplingParams(top_p=0.75), generators(rows))
    assert set(np.unique(cut).tolist()) == {1, 3}


def test_same_seed_same_ids_and_rows_do_not_depend_on_batch():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(6, 40)).astype(np.float32)
    params = SamplingParams(temperature=0.9, top_k=20, top_p=0.95)
    batch = sample_next(logits, params, generators(6, seed=3))
    assert batch.tolist() == sample_next(logits, params, generators(6, seed=3)).tolist()
    alone = [sample_next(logits[i : i + 1], params, [row_generator(3, i)])[0] for i in range(6)]
    assert batch.tolist() == alone
    other_seed = [sample_next(logits, params, generators(6, seed=4)).tolist() for _ in range(3)]
    assert any(o != batch.tolist() for o in other_seed)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"temperature": -0.1},
        {"temperature": float("nan")},
        {"temperature": float("inf")},
        {"top_p": 0.0},
        {"top_p": 1.5},
        {"top_p": -1},
        {"top_k": -1},
        {"top_k": 2.5},
        {"temperature": "1"},
    ],
)
def test_bad_params_are_refused(kwargs):
    with pytest.raises(SamplingArgumentError) as info:
        SamplingParams(**kwargs)
    assert next(iter(kwargs)) in str(info.value)


def test_seed_resolution():
    assert resolve_seed(5) == 5
    assert resolve_seed(None) != resolve_seed(None)
    with pytest.raises(SamplingArgumentError, match="seed"):
        resolve_seed(-1)
