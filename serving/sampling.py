"""Choosing the next character from logits: greedy, temperature, top-k and top-p, in numpy.

Sampling runs on the client so every backend (gRPC or in-process) drives the same code. Each
output row owns an ``np.random.Generator`` seeded from ``(seed, sample_index)`` and draws exactly
one uniform per sampled character, so a row's text depends only on its prompt, its sample index
and the seed: not on which other prompts share the batch, nor on when other rows finished.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
from typing import Sequence

import numpy as np

from serving.client_errors import SamplingArgumentError


@dataclasses.dataclass(frozen=True)
class SamplingParams:
    """How to turn logits into a character: ``temperature`` 0 means greedy (argmax)."""

    temperature: float = 1.0
    top_k: int = 0  # keep only the k most likely characters; 0 = off
    top_p: float = 1.0  # keep the smallest set whose probability reaches top_p; 1 = off

    def __post_init__(self) -> None:
        if isinstance(self.temperature, bool) or not isinstance(self.temperature, (int, float)) \
                or not math.isfinite(self.temperature) or self.temperature < 0:
            raise SamplingArgumentError(
                f"temperature must be a finite number >= 0 (0 = greedy), got {self.temperature!r}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, (int, np.integer)) or self.top_k < 0:
            raise SamplingArgumentError(f"top_k must be an integer >= 0 (0 = off), got {self.top_k!r}")
        if isinstance(self.top_p, bool) or not isinstance(self.top_p, (int, float)) \
                or not math.isfinite(self.top_p) or not 0 < self.top_p <= 1:
            raise SamplingArgumentError(f"top_p must be in (0, 1] (1 = off), got {self.top_p!r}")

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


def probabilities(logits: np.ndarray, params: SamplingParams) -> np.ndarray:
    """Per-row distribution after temperature, top-k and top-p (float64, rows sum to 1).

    Tokens cut by top-k/top-p get probability exactly 0. For greedy params the argmax gets 1.
    """
    x = np.asarray(logits, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"logits must have shape [rows, vocab], got {list(x.shape)}")
    rows, vocab = x.shape
    if params.greedy:
        out = np.zeros_like(x)
        out[np.arange(rows), np.argmax(x, axis=-1)] = 1.0
        return out
    x = x / params.temperature
    if 0 < params.top_k < vocab:
        kept = np.argpartition(-x, params.top_k - 1, axis=-1)[:, :params.top_k]
        masked = np.full_like(x, -np.inf)
        np.put_along_axis(masked, kept, np.take_along_axis(x, kept, axis=-1), axis=-1)
        x = masked
    x = x - x.max(axis=-1, keepdims=True)
    p = np.exp(x)
    p /= p.sum(axis=-1, keepdims=True)
    if params.top_p < 1:
        order = np.argsort(-p, axis=-1, kind="stable")
        sorted_p = np.take_along_axis(p, order, axis=-1)
        mass_before = np.cumsum(sorted_p, axis=-1) - sorted_p
        keep_sorted = mass_before < params.top_p  # the most likely token is always kept
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=-1)
        p = np.where(keep, p, 0.0)
        p /= p.sum(axis=-1, keepdims=True)
    return p


def sample_next(logits: np.ndarray, params: SamplingParams,
                generators: Sequence[np.random.Generator]) -> np.ndarray:
    """One id per row (int32). Greedy rows consume no randomness; others draw one uniform each."""
    logits = np.asarray(logits)
    if len(generators) != logits.shape[0]:
        raise ValueError(f"{logits.shape[0]} rows of logits but {len(generators)} generators")
    if params.greedy:
        return np.argmax(logits, axis=-1).astype(np.int32)
    u = draw_uniforms(generators, 1, params)[:, 0]
    return choose_ids(probabilities(logits, params), u)


def draw_uniforms(generators: Sequence[np.random.Generator], steps: int, params: SamplingParams) -> np.ndarray:
    """[rows, steps] float64 in (0, 1], a row's next ``steps`` draws (zeros for greedy: no draws).

    ``g.random(n)`` continues a generator's stream exactly as n calls of ``g.random()`` would, so
    a text does not depend on how many characters each call samples.
    """
    if params.greedy:
        return np.zeros((len(generators), steps), dtype=np.float64)
    return 1.0 - np.stack([g.random(steps) for g in generators]).reshape(len(generators), steps)


def choose_ids(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The first id whose cumulative probability reaches ``u`` (in (0, 1]) times the row total,
    so a zero-probability id is never chosen. The model's ``sample`` signature applies this rule."""
    cdf = np.cumsum(p, axis=-1)
    ids = (cdf < u[:, None] * cdf[:, -1:]).sum(axis=-1)
    return np.minimum(ids, p.shape[1] - 1).astype(np.int32)
