"""The ranges of the client's own arguments (steps per call, waits, versions, rows per call),
checked once where a generator or client is made; a value outside is a SamplingArgumentError
naming it and its range."""

from __future__ import annotations

from serving import defaults
from serving.client.errors import SamplingArgumentError
from serving.contract import MAX_VERSION, SAMPLE_WIDTH

MAX_STEPS_PER_CALL = SAMPLE_WIDTH  # the exported `sample` signature's width


def validate_steps_per_call(steps: int) -> int:
    if (
        isinstance(steps, bool)
        or not isinstance(steps, int)
        or not 1 <= steps <= MAX_STEPS_PER_CALL
    ):
        raise SamplingArgumentError(
            f"steps_per_call must be an integer in [1, {MAX_STEPS_PER_CALL}], got {steps!r}"
        )
    return steps


def validate_seconds(name: str, seconds: float) -> float:
    if not 0 <= seconds <= defaults.CLIENT_MAX_SECONDS:  # NaN fails too
        raise SamplingArgumentError(
            f"{name} must be in [0, {defaults.CLIENT_MAX_SECONDS:g}] seconds, got {seconds!r}"
        )
    return seconds


def validate_connection(
    timeout: float, resume_seconds: float, version: int | None, max_rows_per_call: int
) -> None:
    if not 0 < timeout <= defaults.CLIENT_MAX_SECONDS:  # NaN fails too
        raise SamplingArgumentError(
            f"timeout must be in (0, {defaults.CLIENT_MAX_SECONDS:g}] seconds, got {timeout!r}"
        )
    validate_seconds("resume_seconds", resume_seconds)
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= MAX_VERSION
    ):
        raise SamplingArgumentError(
            f"version must be an integer in [0, {MAX_VERSION}] (TF Serving's versions are "
            f"int64), got {version!r}"
        )
    if (
        isinstance(max_rows_per_call, bool)
        or not isinstance(max_rows_per_call, int)
        or not 1 <= max_rows_per_call <= defaults.CLIENT_MAX_ROWS_PER_CALL
    ):
        raise SamplingArgumentError(
            f"max_rows_per_call must be an integer in [1, {defaults.CLIENT_MAX_ROWS_PER_CALL}], "
            f"got {max_rows_per_call!r}"
        )
