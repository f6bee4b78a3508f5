"""Log-probabilities of generated tokens: what the sampling paths return and how a row's
entries follow its text.

Both paths give the same numbers (serving/sampling_rule.py): the `sample` signature returns
each sampled token's log-probability and the top alternatives; on the `serving_default` path
they are computed here, from the step's logits, with the same rule in numpy. Entries are
released with the text they spell: a row's stop-string scanner may hold text back, and a token
cut by a stop string is left out with its text.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Sequence

import numpy as np

from serving.client.sampling import NUMPY_OPS
from serving.sampling_rule import log_softmax, top_logprobs


@dataclasses.dataclass(frozen=True)
class TokenLogprob:
    """A generated token, its log-probability (natural log, under the model's distribution
    before any sampling parameter) and the ``top`` alternatives asked for, most likely first
    (the token itself added last when it is not among them, as OpenAI does)."""

    token: str
    logprob: float | None  # None: a prompt's first token (nothing precedes it)
    top: tuple[tuple[str, float], ...] = ()


@dataclasses.dataclass(frozen=True)
class SampledLogprobs:
    """A call's log-probabilities: ``chosen`` [rows, steps] float32, ``top_ids`` (int32) and
    ``top_values`` [rows, steps, n] (n: the most alternatives any row of the call asked for)."""

    chosen: np.ndarray
    top_ids: np.ndarray
    top_values: np.ndarray

    def first_steps(self, steps: int) -> SampledLogprobs:
        return SampledLogprobs(
            self.chosen[:, :steps], self.top_ids[:, :steps], self.top_values[:, :steps]
        )


def step_logprobs(logits: np.ndarray, chosen: np.ndarray, alternatives: int) -> SampledLogprobs:
    """The log-probabilities of one step's ``chosen`` ids [rows] from its ``logits`` [rows, V]."""
    log_p = log_softmax(NUMPY_OPS, np.asarray(logits))
    ids, values = top_logprobs(NUMPY_OPS, log_p, alternatives)
    picked = log_p[np.arange(len(log_p)), np.asarray(chosen)]
    return SampledLogprobs(
        picked[:, None].astype(np.float32),
        ids[:, None, :].astype(np.int32),
        values[:, None, :].astype(np.float32),
    )


def row_entries(
    tokens: Sequence[str],
    ids: np.ndarray,
    sampled: SampledLogprobs,
    row: int,
    alternatives: int,
) -> list[TokenLogprob]:
    """Row ``row``'s entries for its sampled ``ids`` (the first len(ids) steps of the call)."""
    out = []
    for step, token_id in enumerate(np.asarray(ids).tolist()):
        top = [
            (tokens[int(i)], float(v))
            for i, v in zip(
                sampled.top_ids[row, step, :alternatives],
                sampled.top_values[row, step, :alternatives],
            )
        ]
        if alternatives and token_id not in sampled.top_ids[row, step, :alternatives].tolist():
            top.append((tokens[token_id], float(sampled.chosen[row, step])))
        out.append(TokenLogprob(tokens[token_id], float(sampled.chosen[row, step]), tuple(top)))
    return out


class LogprobQueue:
    """A row's entries not yet released: each is released once the text it spells is."""

    def __init__(self) -> None:
        self._pending: collections.deque[TokenLogprob] = collections.deque()
        self._released_chars = 0  # text released beyond the entries released so far

    def push(self, entries: Sequence[TokenLogprob]) -> None:
        self._pending.extend(entries)

    def release(self, characters: int) -> tuple[TokenLogprob, ...]:
        """The entries whose text lies within the next ``characters`` released characters."""
        self._released_chars += characters
        out = []
        while self._pending and len(self._pending[0].token) <= self._released_chars:
            entry = self._pending.popleft()
            self._released_chars -= len(entry.token)
            out.append(entry)
        return tuple(out)
