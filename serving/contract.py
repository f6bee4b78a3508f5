"""The export contract: the names, shapes and limits every charloom SavedModel shares with its clients.

The exporter (trainer/signatures.py) builds its signatures from these definitions and the client
(serving/) reads a served model through them, so neither writes a name or a limit of its own.
Pure Python, no dependencies: both sides import it.

Every input of every signature has the batch in dimension 0 and a fixed width in the others, so
TensorFlow Serving's batching (one queue per signature, requests concatenated along dimension 0,
shapes otherwise equal unless it pads them) can merge any requests of one signature.

| signature | inputs | outputs |
| --- | --- | --- |
| ``serving_default`` | ``input_ids`` int32 [B, 1], states | ``logits`` float32 [B, V], states |
| ``prefill`` | ``input_ids`` int32 [B, PREFILL_WIDTH], ``lengths`` int32 [B] in [0, PREFILL_WIDTH], states | ``logits`` [B, V] after each row's last fed token, states |
| ``sample`` | ``input_ids`` [B, 1], states, ``uniforms`` float64 [B, SAMPLE_WIDTH], ``steps`` int32 [B] in [1, SAMPLE_WIDTH], ``temperature`` / ``top_p`` float64 [B], ``top_k`` int32 [B] | ``sampled_ids`` int32 [B, SAMPLE_WIDTH] (NO_ID past a row's steps), states |
| ``tokenize`` | ``text`` string [B] | ``input_ids`` int32 [B, MAX_PROMPT_TOKENS] (NO_ID for an unknown character, 0 past the text), ``lengths`` int32 [B] |
| ``detokenize`` | ``input_ids`` int32 [B, L] | ``text`` string [B] |

States are float32 [B, units] tensors named by `state_name`; zeros are the initial state.
"""

from __future__ import annotations

STEP = "serving_default"
PREFILL = "prefill"
SAMPLE = "sample"
TOKENIZE = "tokenize"
DETOKENIZE = "detokenize"
SIGNATURES = (STEP, PREFILL, SAMPLE, TOKENIZE, DETOKENIZE)

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

PREFILL_WIDTH = 128  # prompt tokens per prefill call: longer prompts take several calls
SAMPLE_WIDTH = 64  # most tokens one sample call can produce (the uniforms' width)
MAX_PROMPT_TOKENS = 4096  # tokenize's output width: the longest text it encodes
NO_ID = -1  # no token: an unknown character in tokenize, a step past a row's end in sample

OUT_OF_VOCABULARY = "input_ids outside the vocabulary"

# TensorFlow Serving replays these PredictionLog records when it loads a version (model warmup).
WARMUP_DIRECTORY = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"


def state_name(layer: int, kind: str) -> str:
    """``layer_0_h``: the hidden state of RNN layer 0 (``c`` is an LSTM's cell state)."""
    return f"layer_{layer}_{kind}"
