"""What the engine batches and how one model call is made of it: the rows decoding, the prompts
being prefilled, and the inputs of one ``prefill`` or ``sample`` call built from them (the
engine applies the results, in its own thread)."""

from __future__ import annotations

import dataclasses

import numpy as np

from serving.client.backends import SignatureBackend
from serving.client.errors import FeatureNotExportedError
from serving.client.logprobs import (
    LogprobQueue,
    SampledLogprobs,
    TokenLogprob,
    row_entries,
    step_logprobs,
)
from serving.client.sampling import (
    draw_uniforms,
    row_generator,
    row_penalties,
    sample_next,
)
from serving.client.scoring import chunk_logprobs
from serving.client.stop_strings import StopStringScanner
from serving.client.vocabulary import TokenVocabulary
from serving.contract import PREFILL_WIDTH
from serving.gateway.jobs import Job
from serving.sampling_rule import Penalties
from serving.signature_inputs import extra_sample_inputs


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
    counts: np.ndarray | None = None  # [V] int32: each token's count in the row's output
    prompt_mask: np.ndarray | None = None  # [V] int32: 1 for the prompt's tokens
    bias: np.ndarray | None = None  # [V] float32 logit bias (None: none)
    queue: LogprobQueue | None = None  # log-probabilities waiting for their text

    def penalties(self) -> Penalties | None:
        """This row's penalties for the client's rule (None: its request has none)."""
        return row_penalties(
            self.job.spec.sampling, self.bias, self.counts[None], self.prompt_mask[None]
        )


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
    scores: list[float | None] | None = None  # the prompt's token log-probabilities, if wanted
    logits: np.ndarray | None = None  # after the last chunk (scores the next chunk's first)

    @property
    def scored(self) -> bool:
        return self.scores is not None


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
    if any(f.scored for f in fills):  # score: prefill, and each token's log-probability
        token_logprobs, logits, new_states = backend.score(chunk, lengths, states)
        return lengths, logits, new_states, token_logprobs
    return (lengths, *backend.prefill(chunk, lengths, states), None)


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
    extras = extra_inputs(rows) if backend.signature.sample_extras else None
    try:
        wanted = any(r.job.spec.logprobs is not None for r in rows)
        return (
            steps,
            *backend.sample_rows(ids, states, uniforms, steps, sampling, extras, wanted),
        )
    except BaseException:
        for row, state in zip(rows, saved):
            row.generator.bit_generator.state = state
        raise


def extra_inputs(rows: list[Row]) -> dict[str, np.ndarray]:
    """The rows' min-p, penalties, logprobs, bias, counts and prompt masks (`sample`'s newer
    inputs), each row its own."""
    specs = [r.job.spec for r in rows]
    size = len(rows[0].counts)
    zero_bias = np.zeros(size, np.float32)
    return extra_sample_inputs(
        len(rows),
        size,
        min_p=[s.sampling.min_p for s in specs],
        repetition_penalty=[s.sampling.repetition_penalty for s in specs],
        frequency_penalty=[s.sampling.frequency_penalty for s in specs],
        presence_penalty=[s.sampling.presence_penalty for s in specs],
        logprobs=[s.logprobs or 0 for s in specs],
        logit_bias=np.stack([zero_bias if r.bias is None else r.bias for r in rows]),
        output_counts=np.stack([r.counts for r in rows]),
        prompt_mask=np.stack([r.prompt_mask for r in rows]),
    )


def new_rows(fill: Fill) -> list[Row]:
    """A finished prompt's rows: one per sample index (a resumed fill: its one row), bound to
    the fill's version, states and vocabulary, with the arrays the penalties and logprobs need
    (rebuilt for a resumed row: the new version's vocabulary may differ)."""
    spec = fill.job.spec
    if fill.resumed is not None:
        rows = [fill.resumed]
    else:
        rows = [
            Row(
                fill.job,
                fill.prompt_index,
                s,
                row_generator(spec.seed, s),
                StopStringScanner(spec.stop),
                fill.backend,
                fill.vocabulary,
                queue=LogprobQueue() if spec.logprobs is not None else None,
            )
            for s in range(spec.n)
        ]
    vocabulary = fill.vocabulary
    prompt_ids = vocabulary.encode(spec.prompts[fill.prompt_index])
    for row in rows:
        row.backend, row.vocabulary, row.states = fill.backend, vocabulary, fill.states
        row.counts = np.zeros(vocabulary.size, np.int32)
        np.add.at(row.counts, vocabulary.encode(row.scanner.text), 1)
        row.prompt_mask = np.zeros(vocabulary.size, np.int32)
        row.prompt_mask[prompt_ids] = 1
        if spec.sampling.logit_bias:
            row.bias = spec.sampling.bias_vector(vocabulary.token_ids, vocabulary.size)
    return rows


def first_token(row: Row, logits: np.ndarray) -> tuple[np.ndarray, SampledLogprobs | None]:
    """A row's next token sampled here from its prompt's logits [V], as the client does, and
    its log-probabilities when its request wants them."""
    spec = row.job.spec
    [token] = sample_next(logits[None, :], spec.sampling, [row.generator], row.penalties())
    ids = np.array([token], np.int32)
    if spec.logprobs is None:
        return ids, None
    return ids, step_logprobs(logits[None, :], ids, spec.logprobs)


def record_tokens(
    row: Row, ids: np.ndarray, sampled: SampledLogprobs | None, position: int
) -> LogprobQueue | None:
    """Count a row's new ``ids``; queue their log-probabilities (at ``position`` of the call)."""
    np.add.at(row.counts, ids, 1)
    if row.queue is None or sampled is None:
        return None
    alternatives = row.job.spec.logprobs or 0
    row.queue.push(row_entries(row.vocabulary.tokens, ids, sampled, position, alternatives))
    return row.queue


def score_chunk(fill: Fill, length: int, logits: np.ndarray, token_logprobs: np.ndarray) -> None:
    """Add a `score` call's log-probabilities of ``length`` tokens of ``fill`` (at its offset
    before the call) to its scores: the chunk's first token from the last chunk's logits."""
    first = int(fill.ids[fill.offset]) if length else 0
    scored = chunk_logprobs(fill.logits, first, token_logprobs, length)
    fill.scores.extend(None if np.isnan(x) else float(x) for x in scored)
    fill.logits = logits


def prompt_entries(fill: Fill) -> tuple[TokenLogprob, ...]:
    tokens = fill.vocabulary.tokens
    return tuple(TokenLogprob(tokens[i], lp) for i, lp in zip(fill.ids.tolist(), fill.scores))


def check_features(spec, backend: SignatureBackend, vocabulary) -> None:
    """Refuse a request the served export cannot run (naming what and the version), and a
    logit bias key that is not a token, before anything runs."""
    needs = []
    if spec.logprobs is not None:
        needs.append("logprobs")
    if spec.sampling.penalized or spec.sampling.min_p > 0:
        needs.append("penalties, min_p and logit_bias")
    if needs and not backend.signature.sample_extras:
        raise FeatureNotExportedError(
            f"{backend.description} was exported before charloom's {' and '.join(needs)}: "
            "export the model again to use them"
        )
    if spec.echo and spec.logprobs is not None and not backend.signature.can_score:
        raise FeatureNotExportedError(
            f"{backend.description} has no `score` signature (exported before it), so echo "
            "with logprobs cannot score the prompt: export the model again"
        )
    spec.sampling.bias_vector(vocabulary.token_ids, vocabulary.size)
