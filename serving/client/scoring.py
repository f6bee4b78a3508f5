"""Scoring text through a served model: each token's log-probability, and bits per character.

The model's ``score`` signature (serving/contract.py) feeds a chunk of up to its width of tokens
from the states it is given and returns the log-probability of each next token inside the chunk
and the logits after the chunk's last token; the first token of the next chunk is scored here
from those logits with the contract's `log_softmax`, so a text of any length is scored as one
sequence, the states carried from chunk to chunk (what a generator sees). Many texts share
each call, one row each.

Bits per character are the total negative log-likelihood of the scored tokens, in bits, over
the characters those tokens spell (the trainer's ``val_bpc``, trainer/bits_per_character.py):
``--window N`` scores independent windows of N + 1 tokens from zero states, N tokens predicted
in each, as the trainer's validation does with ``seq_len`` N.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from serving.client.backends import SignatureBackend
from serving.client.sampling import NUMPY_OPS
from serving.client.vocabulary import TokenVocabulary
from serving.sampling_rule import log_softmax

ROWS_PER_PASS = 256  # windows scored side by side (each pass: one call per chunk of the width)


@dataclasses.dataclass(frozen=True)
class TokenScores:
    """A text's tokens and each one's log-probability (natural log) after everything before it;
    None for a first token with nothing before it."""

    tokens: tuple[str, ...]
    logprobs: tuple[float | None, ...]

    @property
    def nats(self) -> float:
        return -sum(lp for lp in self.logprobs if lp is not None)

    @property
    def characters(self) -> int:
        """Characters spelled by the scored tokens."""
        return sum(len(t) for t, lp in zip(self.tokens, self.logprobs) if lp is not None)


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Bits per character of a text: ``nats`` over ``characters`` scored, in ``tokens``."""

    nats: float
    characters: int
    tokens: int

    @property
    def bits_per_character(self) -> float:
        return self.nats / max(self.characters, 1) / math.log(2.0)


def chunk_logprobs(
    previous_logits: np.ndarray | None, first_id: int, token_logprobs: np.ndarray, length: int
) -> np.ndarray:
    """The log-probabilities [length] of one row's chunk of ``length`` tokens from a ``score``
    call: the first token's from the previous chunk's logits [V] (NaN without one: nothing
    precedes it), the others from the call's ``token_logprobs``."""
    out = np.full(length, np.nan)
    if length and previous_logits is not None:
        out[0] = log_softmax(NUMPY_OPS, previous_logits[None, :])[0, first_id]
    out[1:] = token_logprobs[: max(length - 1, 0)]
    return out


def score_rows(backend: SignatureBackend, rows: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each row of ids scored from zero states: float64 [len(row)], entry i the log-probability
    of ``row[i]`` after ``row[:i]`` (entry 0: NaN, nothing precedes it)."""
    width = backend.signature.prefill_width
    out = [np.full(len(r), np.nan) for r in rows]
    longest = max((len(r) for r in rows), default=0)
    states, logits = None, None
    for start in range(0, longest, width):
        chunk = np.zeros((len(rows), width), np.int32)
        lengths = np.zeros(len(rows), np.int32)
        for i, row in enumerate(rows):
            piece = row[start : start + width]
            chunk[i, : len(piece)] = piece
            lengths[i] = len(piece)
        previous = logits
        scored, logits, states = backend.score(chunk, lengths, states)
        for i, length in enumerate(lengths.tolist()):
            before = None if previous is None else previous[i]
            out[i][start : start + length] = chunk_logprobs(before, chunk[i, 0], scored[i], length)
    return out


def score_texts(
    backend: SignatureBackend,
    vocabulary: TokenVocabulary,
    texts: Sequence[str],
    context: str = "",
) -> list[TokenScores]:
    """Every text's tokens scored after ``context`` (its first token unscored without one)."""
    before = vocabulary.encode(context, "context") if context else np.zeros(0, np.int32)
    encoded = [vocabulary.encode(t, f"text {i}") for i, t in enumerate(texts)]
    scores = score_rows(backend, [np.concatenate([before, ids]) for ids in encoded])
    return [
        TokenScores(
            tokens=tuple(vocabulary.tokens[i] for i in ids.tolist()),
            logprobs=tuple(None if math.isnan(x) else float(x) for x in row[len(before) :]),
        )
        for ids, row in zip(encoded, scores)
    ]


def evaluate(
    backend: SignatureBackend,
    vocabulary: TokenVocabulary,
    text: str,
    window: int | None = None,
) -> Evaluation:
    """Bits per character of ``text``: as one sequence (``window`` None), or in independent
    windows of ``window + 1`` tokens from zero states (the remainder unscored)."""
    ids = vocabulary.encode(text, "text")
    if window is None:
        rows = [ids]
    else:
        count = len(ids) // (window + 1)
        rows = list(ids[: count * (window + 1)].reshape(count, window + 1))
    lengths = np.array([len(t) for t in vocabulary.tokens], np.int64)
    nats, characters, tokens = 0.0, 0, 0
    for start in range(0, len(rows), ROWS_PER_PASS):
        batch = rows[start : start + ROWS_PER_PASS]
        for row, scored in zip(batch, score_rows(backend, batch)):
            nats -= float(scored[1:].sum())
            characters += int(lengths[row[1:]].sum())
            tokens += len(row) - 1
    return Evaluation(nats=nats, characters=characters, tokens=tokens)
