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
    FREQUENCY_PENALTY,
    LOGIT_BIAS,
    MIN_P,
    PRESENCE_PENALTY,
    REPETITION_PENALTY,
    SAMPLING_RANGES,
    TEMPERATURE,
    TOP_K,
    TOP_P,
)
from serving.sampling_rule import (
    Penalties,
    RowSampling,
    choose_tokens,
    first_reaching,
    token_probabilities,
)

MAX_LOGIT_BIAS_ENTRIES = 1024  # tokens one request may bias


@dataclasses.dataclass(frozen=True)
class SamplingParams:
    """How to turn logits into a token (serving/sampling_rule.py has the rule and the order):
    ``temperature`` 0 means greedy (argmax). ``logit_bias`` maps tokens (a character model's
    tokens are its characters) to a bias; as pairs, so the params stay hashable."""

    temperature: float = 1.0
    top_k: int = 0  # keep only the k most likely characters; 0 = off
    top_p: float = 1.0  # keep the smallest set whose probability reaches top_p; 1 = off
    min_p: float = 0.0  # cut tokens less likely than min_p x the most likely; 0 = off
    repetition_penalty: float = 1.0  # > 0; 1 = none
    frequency_penalty: float = 0.0  # in [-2, 2]; 0 = none
    presence_penalty: float = 0.0  # in [-2, 2]; 0 = none
    logit_bias: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.logit_bias, dict):
            object.__setattr__(self, "logit_bias", tuple(self.logit_bias.items()))
        for name, value in (
            (TEMPERATURE, self.temperature),
            (TOP_K, self.top_k),
            (TOP_P, self.top_p),
            (MIN_P, self.min_p),
            (REPETITION_PENALTY, self.repetition_penalty),
            (FREQUENCY_PENALTY, self.frequency_penalty),
            (PRESENCE_PENALTY, self.presence_penalty),
        ):
            rule = SAMPLING_RANGES[name]
            if not rule.accepts(value) or (
                rule.integer and not isinstance(value, (int, np.integer))
            ):
                raise SamplingArgumentError(f"{rule.message}, got {value!r}")
        if len(self.logit_bias) > MAX_LOGIT_BIAS_ENTRIES:
            raise SamplingArgumentError(
                f"logit_bias has {len(self.logit_bias)} entries; at most "
                f"{MAX_LOGIT_BIAS_ENTRIES} tokens can be biased"
            )
        rule = SAMPLING_RANGES[LOGIT_BIAS]
        for entry in self.logit_bias:
            if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str)):
                raise SamplingArgumentError(
                    f"logit_bias maps tokens (strings) to biases, got the entry {entry!r:.80}"
                )
            if not entry[0] or not rule.accepts(entry[1]):
                raise SamplingArgumentError(
                    f"{rule.message}, got {entry[1]!r:.40} for the token {entry[0]!r:.40}"
                )

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @property
    def penalized(self) -> bool:
        """Whether a bias or a penalty changes the logits (else the rule skips that step)."""
        return bool(
            self.logit_bias
            or self.repetition_penalty != 1.0
            or self.frequency_penalty != 0.0
            or self.presence_penalty != 0.0
        )

    def bias_vector(self, token_ids: dict[str, int], vocab_size: int) -> np.ndarray:
        """``logit_bias`` as a float32 [V] vector; a key that is not a token is refused."""
        bias = np.zeros(vocab_size, np.float32)
        for token, value in self.logit_bias:
            if token not in token_ids:
                raise SamplingArgumentError(
                    f"logit_bias key {token!r:.40} is not a token of the model's vocabulary "
                    "(keys are tokens: a character model's tokens are its characters)"
                )
            bias[token_ids[token]] = value
        return bias


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


def row_penalties(
    params: SamplingParams,
    bias: np.ndarray | None,
    output_counts: np.ndarray,
    prompt_mask: np.ndarray,
) -> Penalties | None:
    """The penalties of rows that share ``params``, with their own ``output_counts`` and
    ``prompt_mask`` [rows, V] and the one ``bias`` [V] (None: none) for the rule; None when
    ``params`` set none."""
    if not params.penalized:
        return None
    rows, size = output_counts.shape
    bias = np.zeros(size, np.float32) if bias is None else bias
    return Penalties(
        repetition=np.full(rows, params.repetition_penalty, np.float64),
        frequency=np.full(rows, params.frequency_penalty, np.float64),
        presence=np.full(rows, params.presence_penalty, np.float64),
        logit_bias=np.broadcast_to(bias, (rows, size)),
        output_counts=output_counts,
        prompt_mask=prompt_mask,
    )


def row_sampling(
    params: SamplingParams, rows: int, penalties: Penalties | None = None
) -> RowSampling:
    """``params`` for ``rows`` rows, as the rule takes them (``penalties``: the rows' penalty
    arrays, when ``params.penalized``)."""
    return RowSampling(
        temperature=np.full(rows, params.temperature, np.float64),
        top_k=np.full(rows, params.top_k, np.int32),
        top_p=np.full(rows, params.top_p, np.float64),
        min_p=np.full(rows, params.min_p, np.float64) if params.min_p > 0 else None,
        penalties=penalties,
    )


def probabilities(
    logits: np.ndarray, params: SamplingParams, penalties: Penalties | None = None
) -> np.ndarray:
    """Per-row distribution after every sampling parameter (float64, rows sum to 1): the rule
    of serving/sampling_rule.py. Cut tokens get exactly 0; greedy gives the argmax 1."""
    x = np.asarray(logits)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"logits must have shape [rows, vocab], got {list(x.shape)}")
    rows = row_sampling(params, len(x), penalties)
    if params.greedy:
        out = np.zeros(x.shape, np.float64)
        out[np.arange(len(x)), choose_tokens(NUMPY_OPS, x, np.ones(len(x)), rows)] = 1.0
        return out
    return token_probabilities(NUMPY_OPS, x, rows)


def sample_next(
    logits: np.ndarray,
    params: SamplingParams,
    generators: Sequence[np.random.Generator],
    penalties: Penalties | None = None,
) -> np.ndarray:
    """One id per row (int32). Greedy rows consume no randomness; others draw one uniform each."""
    logits = np.asarray(logits)
    if len(generators) != logits.shape[0]:
        raise ValueError(f"{logits.shape[0]} rows of logits but {len(generators)} generators")
    u = draw_uniforms(generators, 1, params)[:, 0]
    return choose_tokens(NUMPY_OPS, logits, u, row_sampling(params, len(logits), penalties))


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
