"""What the engine batches and how one model call is made of it: the rows decoding, the prompts
being prefilled, and the inputs of one ``prefill`` or ``sample`` call built from them (the
engine applies the results, in its own thread)."""

from __future__ import annotations

import dataclasses

import numpy as np

from serving.client.backends import SignatureBackend
from serving.client.sampling import draw_uniforms
from serving.client.stop_strings import StopStringScanner
from serving.client.vocabulary import TokenVocabulary
from serving.contract import PREFILL_WIDTH
from serving.gateway.jobs import Job


@dataclasses.dataclass
class Row:
    """One output row decoding: its random stream, stop scanner, progress and states."""

    job: Job
    prompt_index: int
    sample_index: int
    generator: np.random.Generator
    scanner: StopStringScanner
    backend: SignatureBackend
    vocabulary: TokenVocabulary
    produced: int = 0
    last_id: int = 0
    states: dict[str, np.ndarray] | None = None  # each [units]


@dataclasses.dataclass
class Fill:
    """A prompt (or, after a version swap, a prompt and its text so far) being prefilled; when
    done, its logits start ``rows`` (new rows: one per sample index; resumed: the one row)."""

    job: Job
    prompt_index: int
    ids: np.ndarray
    backend: SignatureBackend
    vocabulary: TokenVocabulary
    resumed: Row | None = None
    offset: int = 0
    states: dict[str, np.ndarray] | None = None


@dataclasses.dataclass(frozen=True)
class PerRowSampling:
    """Sampling parameters, one value per row (what `SignatureBackend.sample_rows` reads)."""

    temperature: np.ndarray
    top_k: np.ndarray
    top_p: np.ndarray


def prefill_call(fills: list[Fill]):
    """The next chunk of each prompt (from its carried states): lengths, logits and states."""
    backend = fills[0].backend
    width = backend.signature.prefill_width or PREFILL_WIDTH
    chunk = np.zeros((len(fills), width), np.int32)
    lengths = np.zeros(len(fills), np.int32)
    for i, fill in enumerate(fills):
        piece = fill.ids[fill.offset : fill.offset + width]
        chunk[i, : len(piece)] = piece
        lengths[i] = len(piece)
    states = None
    if any(f.states is not None for f in fills):
        zero = {name: z[0] for name, z in backend.signature.zero_states(1).items()}
        states = {
            name: np.stack([(f.states or zero)[name] for f in fills])
            for name in backend.signature.state_names
        }
    return (lengths, *backend.prefill(chunk, lengths, states))


def decode_call(rows: list[Row], steps_per_call: int):
    """One sample call for ``rows``: each row's steps, sampled ids and new states. The rows'
    random streams are put back as they were when the call fails."""
    backend = rows[0].backend
    steps = np.array(
        [min(steps_per_call, r.job.spec.max_tokens - r.produced) for r in rows], np.int32
    )
    saved = [r.generator.bit_generator.state for r in rows]
    uniforms = np.zeros((len(rows), int(steps.max())), np.float64)
    for i, row in enumerate(rows):
        drawn = draw_uniforms([row.generator], int(steps[i]), row.job.spec.sampling)
        uniforms[i, : steps[i]] = drawn[0]
    sampling = PerRowSampling(
        np.array([r.job.spec.sampling.temperature for r in rows], np.float64),
        np.array([r.job.spec.sampling.top_k for r in rows], np.int32),
        np.array([r.job.spec.sampling.top_p for r in rows], np.float64),
    )
    ids = np.array([[r.last_id] for r in rows], np.int32)
    names = backend.signature.state_names
    states = {name: np.stack([r.states[name] for r in rows]) for name in names}
    try:
        return (steps, *backend.sample_rows(ids, states, uniforms, steps, sampling))
    except BaseException:
        for row, state in zip(rows, saved):
            row.generator.bit_generator.state = state
        raise
