"""The ranges of the client's own arguments (steps per call, waits, versions, rows per call),
checked once where a generator or client is made; a value outside is a SamplingArgumentError
naming it and its range."""

from __future__ import annotations

import numpy as np

from serving import defaults
from serving.client.errors import SamplingArgumentError
from serving.contract import MAX_VERSION, SAMPLE_WIDTH

MAX_STEPS_PER_CALL = SAMPLE_WIDTH  # the exported `sample` signature's width


def validate_integer(
    name: str, value: object, low: int, high: int, why: str = "", *, numpy_ok: bool = False
) -> int:
    """`value` as an int in [low, high] (never a bool; a NumPy integer only where `numpy_ok`)."""
    kinds = (int, np.integer) if numpy_ok else int
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        raise SamplingArgumentError(
            f"{name} must be an integer in [{low}, {high}]{why}, got {value!r}"
        )
    return int(value)


def validate_steps_per_call(steps: int) -> int:
    return validate_integer("steps_per_call", steps, 1, MAX_STEPS_PER_CALL)


def validate_seconds(name: str, seconds: float, *, positive: bool = False) -> float:
    low = "(0" if positive else "[0"
    if (
        not (0 < seconds if positive else 0 <= seconds)
        or not seconds <= defaults.CLIENT_MAX_SECONDS
    ):
        raise SamplingArgumentError(  # NaN fails both comparisons
            f"{name} must be in {low}, {defaults.CLIENT_MAX_SECONDS:g}] seconds, got {seconds!r}"
        )
    return seconds


def validate_connection(
    timeout: float, resume_seconds: float, version: int | None, max_rows_per_call: int
) -> None:
    validate_seconds("timeout", timeout, positive=True)
    validate_seconds("resume_seconds", resume_seconds)
    if version is not None:
        validate_integer("version", version, 0, MAX_VERSION, " (TF Serving's versions are int64)")
    validate_integer("max_rows_per_call", max_rows_per_call, 1, defaults.CLIENT_MAX_ROWS_PER_CALL)
