"""The inputs of a call to each signature, built once for every caller (numpy).

The client, the exporter's warmup records and the benchmarks all call the signatures of
serving/contract.py; the arrays they send are built here, so the shapes and dtypes a request
carries are written once.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from serving import contract, defaults

Inputs = dict[str, np.ndarray]


def per_row(value, rows: int, dtype) -> np.ndarray:
    """A scalar repeated for ``rows`` rows, or a per-row sequence as an array of ``dtype``."""
    array = np.asarray(value, dtype)
    return np.full(rows, array, dtype) if array.ndim == 0 else array


def extra_sample_inputs(
    rows: int,
    vocab_size: int,
    *,
    min_p=0.0,
    repetition_penalty=1.0,
    frequency_penalty=0.0,
    presence_penalty=0.0,
    logprobs=0,
    logit_bias: np.ndarray | None = None,
    output_counts: np.ndarray | None = None,
    prompt_mask: np.ndarray | None = None,
) -> Inputs:
    """The ``sample`` inputs of exports since the log-probabilities: per row (or one value for
    every row) min-p, the penalties and the alternatives wanted; [rows, V] (or [V] for every
    row) the logit bias, the output token counts and the prompt mask (zeros when None)."""

    def matrix(value, dtype) -> np.ndarray:
        if value is None:
            return np.zeros((rows, vocab_size), dtype)
        return np.broadcast_to(np.asarray(value, dtype), (rows, vocab_size))

    return {
        contract.MIN_P: per_row(min_p, rows, np.float64),
        contract.REPETITION_PENALTY: per_row(repetition_penalty, rows, np.float64),
        contract.FREQUENCY_PENALTY: per_row(frequency_penalty, rows, np.float64),
        contract.PRESENCE_PENALTY: per_row(presence_penalty, rows, np.float64),
        contract.LOGPROBS: per_row(logprobs, rows, np.int32),
        contract.LOGIT_BIAS: matrix(logit_bias, np.float32),
        contract.OUTPUT_COUNTS: matrix(output_counts, np.int32),
        contract.PROMPT_MASK: matrix(prompt_mask, np.int32),
    }


def sample_inputs(
    uniforms: np.ndarray,
    temperature,
    top_k,
    top_p,
    width: int | None = contract.SAMPLE_WIDTH,
    steps: np.ndarray | None = None,
    extras: Inputs | None = None,
) -> Inputs:
    """``sample``'s inputs besides ids and states, for ``uniforms`` [rows, steps] and each row's
    (or every row's) temperature, top-k and top-p. With a fixed ``width`` the uniforms are padded
    to it and ``steps`` says how many each row samples (every column, unless ``steps`` gives
    each row's own count); ``width=None`` is an export from before
    widths were fixed (one uniforms column per token, no ``steps``). ``extras``: the inputs of
    `extra_sample_inputs`, for an export that takes them."""
    uniforms = np.asarray(uniforms, np.float64)
    rows, columns = uniforms.shape
    inputs: Inputs = {}
    if width is not None:
        padded = np.zeros((rows, width), np.float64)
        padded[:, :columns] = uniforms
        uniforms = padded
        inputs[contract.STEPS] = per_row(steps if steps is not None else columns, rows, np.int32)
    inputs[contract.UNIFORMS] = uniforms
    inputs[contract.TEMPERATURE] = per_row(temperature, rows, np.float64)
    inputs[contract.TOP_K] = per_row(top_k, rows, np.int32)
    inputs[contract.TOP_P] = per_row(top_p, rows, np.float64)
    return {**inputs, **(extras or {})}


def detokenize_ids(*rows) -> np.ndarray:
    """``detokenize``'s ``input_ids``: each row's ids, NO_ID-padded to the signature's width."""
    ids = np.full((len(rows), contract.DETOKENIZE_WIDTH), contract.NO_ID, np.int32)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
    return ids


def example_inputs(state_units: Mapping[str, int], vocab_size: int) -> dict[str, Inputs]:
    """One one-row request per signature the client calls, at the shapes it calls them with
    (what TF Serving's warmup replays and what a warmup benchmark times): ``state_units`` maps
    each state's name to its width; ``vocab_size`` is the model's."""
    states = {name: np.zeros((1, units), np.float32) for name, units in state_units.items()}
    one_id = np.zeros((1, 1), np.int32)
    steps = defaults.STEPS_PER_CALL
    return {
        contract.DETOKENIZE: {contract.INPUT_IDS: detokenize_ids(one_id[0])},
        contract.PREFILL: {
            contract.INPUT_IDS: np.zeros((1, contract.PREFILL_WIDTH), np.int32),
            contract.LENGTHS: np.array([8], np.int32),
            **states,
        },
        contract.SCORE: {
            contract.INPUT_IDS: np.zeros((1, contract.PREFILL_WIDTH), np.int32),
            contract.LENGTHS: np.array([contract.PREFILL_WIDTH], np.int32),
            **states,
        },
        contract.STEP: {contract.INPUT_IDS: one_id, **states},
        contract.SAMPLE: {
            contract.INPUT_IDS: one_id,
            **states,
            **sample_inputs(
                np.full((1, steps), 0.5),
                1.0,
                0,
                1.0,
                extras=extra_sample_inputs(1, vocab_size, logprobs=contract.MAX_LOGPROBS),
            ),
        },
    }
