"""The export contract: the names, shapes and limits every charloom SavedModel shares with its clients.

The exporter (trainer/export/signatures.py) builds its signatures from these definitions and the client
(serving/) reads a served model through them, so neither writes a name or a limit of its own.
Pure Python, no dependencies: both sides import it.

Every input of every signature has the batch in dimension 0 and a fixed width in the others, so
TensorFlow Serving's batching (one queue per signature, requests concatenated along dimension 0,
shapes otherwise equal unless it pads them) can merge any requests of one signature.

Signatures (B is the batch; inputs -> outputs):

- ``serving_default``: ``input_ids`` int32 [B, 1], states -> ``logits`` float32 [B, V], states.
- ``prefill``: ``input_ids`` int32 [B, PREFILL_WIDTH], ``lengths`` int32 [B] in
  [0, PREFILL_WIDTH], states -> ``logits`` [B, V] after each row's last fed token, states.
- ``sample``: ``input_ids`` [B, 1], states, ``uniforms`` float64 [B, SAMPLE_WIDTH], ``steps``
  int32 [B] in [1, SAMPLE_WIDTH], ``temperature`` / ``top_p`` float64 [B], ``top_k`` int32 [B]
  -> ``sampled_ids`` int32 [B, SAMPLE_WIDTH] (NO_ID past a row's steps), states.
- ``tokenize``: ``text`` string [B] -> ``input_ids`` int32 [B, MAX_PROMPT_TOKENS] (NO_ID for an
  unknown character, 0 past the text), ``lengths`` int32 [B].
- ``score``: ``input_ids`` int32 [B, PREFILL_WIDTH], ``lengths`` int32 [B] in
  [0, PREFILL_WIDTH], states -> ``token_logprobs`` float32 [B, PREFILL_WIDTH] (entry t: the
  log-probability (`log_softmax`) of ``input_ids[t + 1]`` after ``input_ids[..t]``; 0 from the
  row's last token on), ``logits`` [B, V] after the row's last token (whose `log_softmax` scores
  the next chunk's first token), states. Exports from before it have no ``score``.
- ``detokenize``: ``input_ids`` int32 [B, DETOKENIZE_WIDTH] (NO_ID entries are padding and
  skipped, so ``sample``'s ``sampled_ids`` detokenize as they are) -> ``text`` string [B].
  Exports from before this width was fixed take [B, L] of any L.

States are float32 [B, units] tensors named by `state_name`; zeros are the initial state.

Also here, because the exporter applies them and the client must apply them identically: the
vocabulary's rules (`vocabulary_order`, `unknown_characters_message`) and the sampling rule
(`choose_tokens`, written once against a small array interface that numpy and TensorFlow both
provide: serving/client/sampling.py and trainer/export/sampling.py).
"""

from __future__ import annotations

import dataclasses
import math
import unicodedata
from typing import Any, Protocol

STEP = "serving_default"
PREFILL = "prefill"
SAMPLE = "sample"
TOKENIZE = "tokenize"
DETOKENIZE = "detokenize"
SCORE = "score"
SIGNATURES = (STEP, PREFILL, SAMPLE, SCORE, TOKENIZE, DETOKENIZE)

INPUT_IDS = "input_ids"
LENGTHS = "lengths"
LOGITS = "logits"
TEXT = "text"
UNIFORMS = "uniforms"
STEPS = "steps"
TEMPERATURE = "temperature"
TOP_K = "top_k"
TOP_P = "top_p"
SAMPLED_IDS = "sampled_ids"
TOKEN_LOGPROBS = "token_logprobs"

PREFILL_WIDTH = 128  # prompt tokens per prefill call: longer prompts take several calls
SAMPLE_WIDTH = 64  # most tokens one sample call can produce (the uniforms' width)
MAX_PROMPT_TOKENS = 4096  # tokenize's output width: the longest text it encodes
DETOKENIZE_WIDTH = SAMPLE_WIDTH  # detokenize's input width: a sample call's ids, NO_ID-padded
NO_ID = -1  # no token: an unknown character in tokenize, a step past a row's end in sample,
# padding in detokenize

OUT_OF_VOCABULARY = "input_ids outside the vocabulary"

# TensorFlow Serving replays these PredictionLog records when it loads a version (model warmup).
WARMUP_DIRECTORY = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"


def state_name(layer: int, kind: str) -> str:
    """``layer_0_h``: the hidden state of RNN layer 0 (``c`` is an LSTM's cell state)."""
    return f"layer_{layer}_{kind}"


# -- the vocabulary ---------------------------------------------------------------------------
# Token i of a model is its vocabulary's i-th token, a string; the tokens are distinct and in
# code-point order (Python's string order). A character model's tokens are a corpus' distinct
# characters; a word model's are frequent words of at most MAX_TOKEN_CHARS characters plus every
# character of the corpus, so any text made of the corpus' characters can be encoded. Text is
# encoded by greedy longest match (`longest_match`): at each position the longest token that
# matches there, which for a character model is the character itself. There is no "unknown" id:
# a character no token starts with is refused by the client (naming it), and `tokenize` returns
# NO_ID for it. Decoding is concatenation.
NAMED_UNKNOWN_CHARACTERS = 10  # at most this many are named in an error
MAX_TOKEN_CHARS = 16  # the longest token a vocabulary may hold


def vocabulary_order(tokens) -> tuple[str, ...]:
    """The vocabulary of ``tokens`` (an iterable of strings, or a text: its characters): distinct,
    in code-point order."""
    return tuple(sorted(set(tokens)))


def longest_match(text: str, ids: dict[str, int], max_chars: int) -> list[int]:
    """``text`` as token ids by greedy longest match over ``ids`` (token -> id), trying tokens
    of at most ``max_chars`` characters; NO_ID for a character no token starts with."""
    out, position = [], 0
    while position < len(text):
        for length in range(min(max_chars, len(text) - position), 0, -1):
            found = ids.get(text[position : position + length])
            if found is not None:
                out.append(found)
                position += length
                break
        else:
            out.append(NO_ID)
            position += 1
    return out


def describe_char(char: str) -> str:
    """``'é' (U+00E9 LATIN SMALL LETTER E WITH ACUTE)``; whitespace and controls shown escaped."""
    name = unicodedata.name(char, "")
    shown = repr(char) if not char.isprintable() or char.isspace() else f"'{char}'"
    return f"{shown} (U+{ord(char):04X}{' ' + name if name else ''})"


def unknown_characters_message(subject: str, vocabulary: str, missing: list[str]) -> str:
    """``prompt contains 2 character(s) not in the model's vocabulary: 'é' (U+00E9 ...), ...``"""
    shown = ", ".join(describe_char(c) for c in missing[:NAMED_UNKNOWN_CHARACTERS])
    more = (
        f" and {len(missing) - NAMED_UNKNOWN_CHARACTERS} more"
        if len(missing) > NAMED_UNKNOWN_CHARACTERS
        else ""
    )
    return f"{subject} contains {len(missing)} character(s) not in {vocabulary}: {shown}{more}"


# -- the sampling parameters' ranges ----------------------------------------------------------
# One rule per parameter, checked by every client before a call and by the ``sample`` graph on
# every row (TF Serving checks nothing): the same bounds and the same message on both sides.
@dataclasses.dataclass(frozen=True)
class ParameterRange:
    """``low`` <= value (< when ``low_open``) and value <= ``high`` (None: no upper bound);
    finite; an integer when ``integer``."""

    name: str
    low: float
    high: float | None
    low_open: bool = False
    integer: bool = False
    meaning: str = ""  # what the neutral value means, for the message ("0 = greedy")

    @staticmethod
    def _shown(bound: float) -> str:
        return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"

    @property
    def message(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        if self.high is None:
            bound = f"{kind} {'>' if self.low_open else '>='} {self._shown(self.low)}"
        else:
            low, high = self._shown(self.low), self._shown(self.high)
            bound = f"{kind} in {'(' if self.low_open else '['}{low}, {high}]"
        return f"{self.name} must be {bound}" + (f" ({self.meaning})" if self.meaning else "")

    def accepts(self, value: Any) -> bool:
        """Whether a Python or numpy scalar is in range (bools are not numbers here)."""
        if isinstance(value, bool) or not hasattr(value, "__float__"):
            return False
        if self.integer and not float(value).is_integer():
            return False
        number = float(value)
        if not math.isfinite(number) or number < self.low or (self.low_open and number == self.low):
            return False
        return self.high is None or number <= self.high


SAMPLING_RANGES = {
    TEMPERATURE: ParameterRange(TEMPERATURE, 0.0, None, meaning="0 = greedy"),
    TOP_K: ParameterRange(TOP_K, 0, 2**31 - 1, integer=True, meaning="0 = off"),
    TOP_P: ParameterRange(TOP_P, 0.0, 1.0, low_open=True, meaning="1 = off"),
}
UNIFORMS_RANGE = ParameterRange(UNIFORMS, 0.0, 1.0)


# -- the sampling rule ------------------------------------------------------------------------
class ArrayOps(Protocol):
    """What `choose_tokens` needs of an array library (numpy, TensorFlow); last-axis operations."""

    def float64(self, x: Any) -> Any: ...
    def where(self, condition: Any, x: Any, y: Any) -> Any: ...  # y may be a Python float
    def exp(self, x: Any) -> Any: ...
    def cumsum(self, x: Any) -> Any: ...
    def total(self, x: Any) -> Any: ...  # sum over the last axis, kept as a dimension
    def count(self, condition: Any) -> Any: ...  # int32 number of True along the last axis
    def sort_descending(
        self, x: Any
    ) -> tuple[Any, Any]: ...  # (values, positions); ties by position
    def unsort(self, sorted_x: Any, order: Any) -> Any: ...  # back to the original positions
    def positions(self, x: Any) -> Any: ...  # 0 .. width-1, shaped to broadcast over rows
    def argmax(self, x: Any) -> Any: ...  # int32
    def minimum(self, x: Any, bound: int) -> Any: ...
    def width(self, x: Any) -> Any: ...  # the size of the last axis
    def log(self, x: Any) -> Any: ...
    def row_max(self, x: Any) -> Any: ...  # max over the last axis, kept as a dimension


def log_softmax(ops: ArrayOps, logits: Any) -> Any:
    """Each row's log-probabilities [B, V] (float64) under the model's own distribution: the
    logits before any sampling parameter. What ``score`` returns and what scores a chunk's first
    token from the previous chunk's logits."""
    x = ops.float64(logits)
    shifted = x - ops.row_max(x)
    return shifted - ops.log(ops.total(ops.exp(shifted)))


def token_probabilities(
    ops: ArrayOps, logits: Any, temperature: Any, top_k: Any, top_p: Any
) -> Any:
    """Each row's distribution [B, V], in vocabulary order: logits [B, V]; temperature, top_p [B]
    float64; top_k [B] int32.

    Logits are divided by the temperature (0 counts as 1 here: greedy rows are decided by
    `choose_tokens`); the ``top_k`` most likely are kept (0: all); softmax; the smallest set of
    most likely tokens whose probability reaches ``top_p`` is kept (the most likely always, 1:
    all), renormalised. Cut tokens get probability exactly 0. In float64, per row.
    """
    x = ops.float64(logits) / ops.where(temperature == 0.0, 1.0, temperature)[:, None]
    sorted_x, order = ops.sort_descending(x)
    k = top_k[:, None]
    sorted_x = ops.where(
        (k <= 0) | (k >= ops.width(x)) | (ops.positions(x) < k), sorted_x, float("-inf")
    )
    p = ops.exp(sorted_x - sorted_x[:, :1])
    p = p / ops.total(p)
    mass_before = ops.cumsum(p) - p
    p = ops.where((top_p[:, None] >= 1.0) | (mass_before < top_p[:, None]), p, 0.0)
    return ops.unsort(p / ops.total(p), order)


def first_reaching(ops: ArrayOps, probabilities: Any, uniforms: Any) -> Any:
    """The first token, in vocabulary order, whose cumulative probability reaches ``u`` times the
    row's total (``u`` in (0, 1]), so a token of probability 0 is never chosen."""
    cdf = ops.cumsum(probabilities)
    return ops.minimum(
        ops.count(cdf < uniforms[:, None] * cdf[:, -1:]), ops.width(probabilities) - 1
    )


def choose_tokens(
    ops: ArrayOps, logits: Any, uniforms: Any, temperature: Any, top_k: Any, top_p: Any
) -> Any:
    """The sampling rule: each row's next token from its logits and its uniform ``u``; temperature
    0 is greedy (argmax of the logits, ``u`` unused)."""
    chosen = first_reaching(
        ops, token_probabilities(ops, logits, temperature, top_k, top_p), uniforms
    )
    return ops.where(temperature == 0.0, ops.argmax(logits), chosen)
