"""The sampling rule: how one row's logits and its uniform become its next token, and what its
log-probabilities are. Written once against a small array interface (`ArrayOps`) that numpy
(serving/client/sampling.py, the client's `serving_default` path) and TensorFlow
(trainer/export/sampling.py, the ``sample`` signature) both provide, so a text is the same
whichever side samples. Pure Python, no dependencies: both sides import it.

The parameters, in the order they apply (vLLM's definitions):

1. ``logit_bias``: added to the logits (a token -> bias; OpenAI's [-100, 100]).
2. ``repetition_penalty`` r (> 0, 1 = none): a token that appears in the row's prompt or in its
   output so far has its logit divided by r when positive, multiplied by r otherwise.
3. ``frequency_penalty`` f and ``presence_penalty`` p (in [-2, 2], 0 = none): a token's logit
   loses f times its count in the row's output so far, and p if that count is > 0.
4. ``temperature`` t: the logits are divided by t; t = 0 is greedy (the largest logit after
   steps 1-3; no randomness used).
5. ``top_k``: only the k most likely tokens are kept (0: all); softmax.
6. ``top_p``: the smallest set of most likely tokens whose probability reaches top_p is kept
   (the most likely always; 1: all).
7. ``min_p``: a token less likely than min_p times the most likely one is cut (0: none).
8. What is left is renormalised; the first token, in vocabulary order, whose cumulative
   probability reaches ``u`` times the total is chosen (``u`` in (0, 1]).

Log-probabilities are of the model's own distribution: `log_softmax` of the raw logits, before
any of the above (vLLM's default). The top alternatives are the largest, ties by lower id.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol


class ArrayOps(Protocol):
    """What the rule needs of an array library (numpy, TensorFlow); last-axis operations."""

    def float64(self, x: Any) -> Any: ...
    def where(self, condition: Any, x: Any, y: Any) -> Any: ...  # y may be a Python float
    def exp(self, x: Any) -> Any: ...
    def log(self, x: Any) -> Any: ...
    def cumsum(self, x: Any) -> Any: ...
    def total(self, x: Any) -> Any: ...  # sum over the last axis, kept as a dimension
    def row_max(self, x: Any) -> Any: ...  # max over the last axis, kept as a dimension
    def count(self, condition: Any) -> Any: ...  # int32 number of True along the last axis
    def sort_descending(
        self, x: Any
    ) -> tuple[Any, Any]: ...  # (values, positions); ties by position
    def unsort(self, sorted_x: Any, order: Any) -> Any: ...  # back to the original positions
    def positions(self, x: Any) -> Any: ...  # 0 .. width-1, shaped to broadcast over rows
    def argmax(self, x: Any) -> Any: ...  # int32
    def minimum(self, x: Any, bound: int) -> Any: ...
    def width(self, x: Any) -> Any: ...  # the size of the last axis


@dataclasses.dataclass(frozen=True)
class Penalties:
    """Each row's penalties, as arrays of one library: ``repetition``, ``frequency``,
    ``presence`` [B] float64; ``logit_bias`` [B, V] (float); ``output_counts`` [B, V] (each
    token's count in the row's output so far); ``prompt_mask`` [B, V] (1: in the prompt)."""

    repetition: Any
    frequency: Any
    presence: Any
    logit_bias: Any
    output_counts: Any
    prompt_mask: Any


@dataclasses.dataclass(frozen=True)
class RowSampling:
    """Each row's sampling parameters: ``temperature``, ``top_p``, ``min_p`` [B] float64,
    ``top_k`` [B] int32; ``min_p`` None is 0 everywhere, ``penalties`` None is none."""

    temperature: Any
    top_k: Any
    top_p: Any
    min_p: Any = None
    penalties: Penalties | None = None


def log_softmax(ops: ArrayOps, logits: Any) -> Any:
    """Each row's log-probabilities [B, V] (float64) under the model's own distribution."""
    x = ops.float64(logits)
    shifted = x - ops.row_max(x)
    return shifted - ops.log(ops.total(ops.exp(shifted)))


def penalized_logits(ops: ArrayOps, logits: Any, penalties: Penalties | None) -> Any:
    """Steps 1-3: the logits [B, V] (float64) after the bias and the penalties."""
    x = ops.float64(logits)
    if penalties is None:
        return x
    x = x + ops.float64(penalties.logit_bias)
    counts = ops.float64(penalties.output_counts)
    seen = ops.float64(penalties.prompt_mask) + counts > 0.0
    r = penalties.repetition[:, None]
    x = ops.where(seen, ops.where(x > 0.0, x / r, x * r), x)
    present = ops.float64(counts > 0.0)
    return x - penalties.frequency[:, None] * counts - penalties.presence[:, None] * present


def token_probabilities(ops: ArrayOps, logits: Any, rows: RowSampling) -> Any:
    """Steps 1-7: each row's distribution [B, V] in vocabulary order, renormalised; cut tokens
    get probability exactly 0. Temperature 0 counts as 1 here (greedy rows are decided by
    `choose_tokens`)."""
    x = penalized_logits(ops, logits, rows.penalties)
    x = x / ops.where(rows.temperature == 0.0, 1.0, rows.temperature)[:, None]
    sorted_x, order = ops.sort_descending(x)
    k = rows.top_k[:, None]
    sorted_x = ops.where(
        (k <= 0) | (k >= ops.width(x)) | (ops.positions(x) < k), sorted_x, float("-inf")
    )
    p = ops.exp(sorted_x - sorted_x[:, :1])
    p = p / ops.total(p)
    mass_before = ops.cumsum(p) - p
    top_p = rows.top_p[:, None]
    keep = (top_p >= 1.0) | (mass_before < top_p)
    if rows.min_p is not None:
        keep = keep & (p >= rows.min_p[:, None] * p[:, :1])
    p = ops.where(keep, p, 0.0)
    return ops.unsort(p / ops.total(p), order)


def first_reaching(ops: ArrayOps, probabilities: Any, uniforms: Any) -> Any:
    """Step 8: the first token, in vocabulary order, whose cumulative probability reaches ``u``
    times the row's total (``u`` in (0, 1]), so a token of probability 0 is never chosen."""
    cdf = ops.cumsum(probabilities)
    return ops.minimum(
        ops.count(cdf < uniforms[:, None] * cdf[:, -1:]), ops.width(probabilities) - 1
    )


def choose_tokens(ops: ArrayOps, logits: Any, uniforms: Any, rows: RowSampling) -> Any:
    """Each row's next token from its logits and its uniform ``u``; temperature 0 is greedy
    (the largest logit after the bias and penalties, ``u`` unused)."""
    chosen = first_reaching(ops, token_probabilities(ops, logits, rows), uniforms)
    greedy = ops.argmax(penalized_logits(ops, logits, rows.penalties))
    return ops.where(rows.temperature == 0.0, greedy, chosen)


def top_logprobs(ops: ArrayOps, logprobs: Any, n: Any) -> tuple[Any, Any]:
    """The ``n`` most likely tokens of each row of ``logprobs`` [B, V]: (ids [B, n], their
    log-probabilities [B, n]), most likely first, ties by lower id."""
    values, order = ops.sort_descending(logprobs)
    return order[:, :n], values[:, :n]
