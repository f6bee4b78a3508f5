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
  -> ``sampled_ids`` int32 [B, SAMPLE_WIDTH] (NO_ID past a row's steps), states. Exports since
  the log-probabilities also take ``min_p``, ``repetition_penalty``, ``frequency_penalty``,
  ``presence_penalty`` float64 [B], ``logprobs`` int32 [B] in [0, MAX_LOGPROBS] (alternatives
  per token), ``logit_bias`` float32 [B, V], ``output_token_counts`` int32 [B, V] (each token's
  count in the row's output so far: the client carries it, as it carries the states) and
  ``prompt_token_mask`` int32 [B, V] (1: the token is in the row's prompt), and also return
  ``sampled_logprobs`` float32 [B, SAMPLE_WIDTH] (each sampled token's `log_softmax` of the
  raw logits; 0 past a row's steps), ``top_logprob_ids`` int32 and ``top_logprobs`` float32
  [B, SAMPLE_WIDTH, N] (N the largest ``logprobs`` of the call; NO_ID and 0 as padding).
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
vocabulary's rules (`vocabulary_order`, `unknown_characters_message`) and the sampling
parameters' ranges (`SAMPLING_RANGES`). The sampling rule itself is serving/sampling_rule.py,
written once against a small array interface that numpy and TensorFlow both provide.
"""

from __future__ import annotations

import dataclasses
import math
import unicodedata
from typing import Any

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
# sample's inputs beyond temperature, top-k and top-p (serving/sampling_rule.py applies them)
MIN_P = "min_p"
REPETITION_PENALTY = "repetition_penalty"
FREQUENCY_PENALTY = "frequency_penalty"
PRESENCE_PENALTY = "presence_penalty"
LOGIT_BIAS = "logit_bias"
OUTPUT_COUNTS = "output_token_counts"
PROMPT_MASK = "prompt_token_mask"
LOGPROBS = "logprobs"
# sample's log-probability outputs
SAMPLED_LOGPROBS = "sampled_logprobs"
TOP_LOGPROB_IDS = "top_logprob_ids"
TOP_LOGPROBS = "top_logprobs"
MAX_VERSION = 2**63 - 1  # TF Serving's versions are int64
MAX_LOGPROBS = 20  # most alternatives per token (OpenAI's top_logprobs limit)
PENALTY_INPUTS = (
    REPETITION_PENALTY,
    FREQUENCY_PENALTY,
    PRESENCE_PENALTY,
    LOGIT_BIAS,
    OUTPUT_COUNTS,
    PROMPT_MASK,
)

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
MAX_VOCAB_SIZE = 1 << 24  # the most tokens a vocabulary may hold (clients refuse more)
MAX_STATE_UNITS = 16_384  # the largest RNN state (a layer's units)


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
    MIN_P: ParameterRange(MIN_P, 0.0, 1.0, meaning="0 = off"),
    REPETITION_PENALTY: ParameterRange(
        REPETITION_PENALTY, 0.0, 100.0, low_open=True, meaning="1 = none"
    ),
    FREQUENCY_PENALTY: ParameterRange(FREQUENCY_PENALTY, -2.0, 2.0, meaning="0 = none"),
    PRESENCE_PENALTY: ParameterRange(PRESENCE_PENALTY, -2.0, 2.0, meaning="0 = none"),
    LOGIT_BIAS: ParameterRange(LOGIT_BIAS, -100.0, 100.0, meaning="0 = none"),
    LOGPROBS: ParameterRange(LOGPROBS, 0, MAX_LOGPROBS, integer=True, meaning="alternatives"),
}
UNIFORMS_RANGE = ParameterRange(UNIFORMS, 0.0, 1.0)
