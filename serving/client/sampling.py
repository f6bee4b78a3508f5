"""Choosing the next character from logits on the client: the contract's sampling rule
(serving/contract.py), in numpy, and the random streams that feed it.

Sampling runs on the client (one step per call) or in the model (the `sample` signature, the same
rule in TensorFlow, fed the client's uniforms). Each
output row owns an ``np.random.Generator`` seeded from ``(seed, sample_index)`` and draws exactly
one uniform per sampled character, so a row's text depends only on its prompt, its sample index
and the seed: not on which other prompts share the batch, nor on when other rows finished.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence

import numpy as np

from serving.client.errors import SamplingArgumentError
from serving.contract import (
    SAMPLING_RANGES,
    TEMPERATURE,
    TOP_K,
    TOP_P,
    choose_tokens,
    first_reaching,
    token_probabilities,
)


@dataclasses.dataclass(frozen=True)
class SamplingParams:
    """How to turn logits into a character: ``temperature`` 0 means greedy (argmax)."""

    temperature: float = 1.0
    top_k: int = 0  # keep only the k most likely characters; 0 = off
    top_p: float = 1.0  # keep the smallest set whose probability reaches top_p; 1 = off

    def __post_init__(self) -> None:
        for name, value in (
            (TEMPERATURE, self.temperature),
            (TOP_K, self.top_k),
            (TOP_P, self.top_p),
        ):
            rule = SAMPLING_RANGES[name]
            if not rule.accepts(value) or (
                rule.integer and not isinstance(value, (int, np.integer))
            ):
                raise SamplingArgumentError(f"{rule.message}, got {value!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def resolve_seed(seed: int | None) -> int:
    """The seed to use: the caller's, or a fresh random one (reported back so runs can be repeated)."""
    if seed is None:
        return secrets.randbits(63)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SamplingArgumentError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def row_generator(seed: int, sample_index: int) -> np.random.Generator:
    """The random stream of one output row; independent of batch composition."""
    return np.random.default_rng([seed, sample_index])


class _NumpyOps:
    """The array operations the contract's sampling rule needs, in numpy (last axis)."""

    @staticmethod
    def float64(x):
        return np.asarray(x, np.float64)

    @staticmethod
    def where(condition, x, y):
        return np.where(condition, x, y)

    exp = staticmethod(np.exp)

    @staticmethod
    def cumsum(x):
        return np.cumsum(x, axis=-1)

    @staticmethod
    def total(x):
        return x.sum(axis=-1, keepdims=True)

    @staticmethod
    def count(condition):
        return condition.sum(axis=-1).astype(np.int32)

    @staticmethod
    def sort_descending(x):
        order = np.argsort(-x, axis=-1, kind="stable")
        return np.take_along_axis(x, order, axis=-1), order

    @staticmethod
    def unsort(sorted_x, order):
        out = np.empty_like(sorted_x)
        np.put_along_axis(out, order, sorted_x, axis=-1)
        return out

    @staticmethod
    def positions(x):
        return np.arange(x.shape[-1])[None, :]

    @staticmethod
    def argmax(x):
        return np.argmax(x, axis=-1).astype(np.int32)

    @staticmethod
    def minimum(x, bound):
        return np.minimum(x, bound).astype(np.int32)

    @staticmethod
    def width(x):
        return x.shape[-1]

    log = staticmethod(np.log)

    @staticmethod
    def row_max(x):
        return x.max(axis=-1, keepdims=True)


NUMPY_OPS = _NumpyOps()


def _per_row(params: SamplingParams, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.full(rows, params.temperature, np.float64),
        np.full(rows, params.top_k, np.int32),
        np.full(rows, params.top_p, np.float64),
    )


def probabilities(logits: np.ndarray, params: SamplingParams) -> np.ndarray:
    """Per-row distribution after temperature, top-k and top-p (float64, rows sum to 1): the
    contract's rule (serving/contract.py). Cut tokens get exactly 0; greedy gives the argmax 1.
    """
    x = np.asarray(logits)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"logits must have shape [rows, vocab], got {list(x.shape)}")
    if params.greedy:
        out = np.zeros(x.shape, np.float64)
        out[np.arange(len(x)), np.argmax(x, axis=-1)] = 1.0
        return out
    return token_probabilities(NUMPY_OPS, x, *_per_row(params, len(x)))


def sample_next(
    logits: np.ndarray, params: SamplingParams, generators: Sequence[np.random.Generator]
) -> np.ndarray:
    """One id per row (int32). Greedy rows consume no randomness; others draw one uniform each."""
    logits = np.asarray(logits)
    if len(generators) != logits.shape[0]:
        raise ValueError(f"{logits.shape[0]} rows of logits but {len(generators)} generators")
    u = draw_uniforms(generators, 1, params)[:, 0]
    return choose_tokens(NUMPY_OPS, logits, u, *_per_row(params, len(logits)))


def draw_uniforms(
    generators: Sequence[np.random.Generator], steps: int, params: SamplingParams
) -> np.ndarray:
    """[rows, steps] float64 in (0, 1], a row's next ``steps`` draws (zeros for greedy: no draws).

    ``g.random(n)`` continues a generator's stream exactly as n calls of ``g.random()`` would, so
    a text does not depend on how many characters each call samples.
    """
    if params.greedy:
        return np.zeros((len(generators), steps), dtype=np.float64)
    return 1.0 - np.stack([g.random(steps) for g in generators]).reshape(len(generators), steps)


def choose_ids(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The first id whose cumulative probability reaches ``u`` (in (0, 1]) times the row total
    (the contract's rule, as the model's ``sample`` signature applies it)."""
    return first_reaching(NUMPY_OPS, np.asarray(p, np.float64), np.asarray(u, np.float64))
