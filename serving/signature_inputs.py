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


def sample_inputs(
    uniforms: np.ndarray,
    temperature,
    top_k,
    top_p,
    width: int | None = contract.SAMPLE_WIDTH,
    steps: np.ndarray | None = None,
) -> Inputs:
    """``sample``'s inputs besides ids and states, for ``uniforms`` [rows, steps] and each row's
    (or every row's) temperature, top-k and top-p. With a fixed ``width`` the uniforms are padded
    to it and ``steps`` says how many each row samples (every column, unless ``steps`` gives
    each row's own count); ``width=None`` is an export from before
    widths were fixed (one uniforms column per token, no ``steps``)."""
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
    return inputs


def detokenize_ids(*rows) -> np.ndarray:
    """``detokenize``'s ``input_ids``: each row's ids, NO_ID-padded to the signature's width."""
    ids = np.full((len(rows), contract.DETOKENIZE_WIDTH), contract.NO_ID, np.int32)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
    return ids


def example_inputs(state_units: Mapping[str, int]) -> dict[str, Inputs]:
    """One one-row request per signature the client calls, at the shapes it calls them with
    (what TF Serving's warmup replays and what a warmup benchmark times): ``state_units`` maps
    each state's name to its width."""
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
            **sample_inputs(np.full((1, steps), 0.5), 1.0, 0, 1.0),
        },
    }
