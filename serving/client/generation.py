"""The sampling loop shared by every backend: prefill, then one call per block of characters.

All prompts are prefilled together (one call per chunk of the model's prefill width); each
prompt's logits and states are repeated for its samples; then each call either samples a block
of characters in the model (its ``sample``
signature, given the row's next uniforms) or feeds one character (``serving_default``) and
samples the next here, with the states passed back. Rows that hit a stop string leave the
batch. Text is yielded as it is produced (held back only while it could be the start of a stop
string).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence

import numpy as np

from serving import defaults
from serving.client.arguments import validate_integer
from serving.client.backends import SignatureBackend, States
from serving.client.errors import SamplingArgumentError
from serving.client.logprobs import LogprobQueue, TokenLogprob
from serving.client.row_tracker import RowTracker
from serving.client.sampling import SamplingParams, draw_uniforms, row_generator, sample_next
from serving.client.stop_strings import StopStringScanner
from serving.client.vocabulary import TokenVocabulary

log = logging.getLogger(__name__)

FINISH_STOP = "stop"  # a stop string was generated (it is not part of the text)
FINISH_LENGTH = "length"  # max_new_tokens tokens (characters, for a character model) were generated


@dataclasses.dataclass(frozen=True)
class GenerationRequest:
    """A validated request: build it with `TextGenerator.request` (no RPC)."""

    prompts: tuple[str, ...]
    num_samples: int
    max_new_tokens: int
    sampling: SamplingParams
    seed: int
    stop: tuple[str, ...]
    logprobs: int | None = None  # None: none; N: each token's, with its N top alternatives

    @property
    def rows(self) -> int:
        return len(self.prompts) * self.num_samples

    def row_of(self, prompt_index: int, sample_index: int) -> int:
        return prompt_index * self.num_samples + sample_index


@dataclasses.dataclass(frozen=True)
class TextChunk:
    """Newly produced text of one output row; ``finish_reason`` is set on the row's last chunk."""

    prompt_index: int
    sample_index: int
    text: str
    finish_reason: str | None = None
    new_tokens: int | None = None  # on the last chunk: tokens sampled, stop string included
    logprobs: tuple[TokenLogprob, ...] = ()  # the entries of the tokens this chunk's text spells


@dataclasses.dataclass(frozen=True)
class GenerationResult:
    """One finished sample: the generated text (prompt and stop string excluded)."""

    prompt: str
    prompt_index: int
    sample_index: int
    text: str
    finish_reason: str
    new_tokens: int
    seed: int
    model_version: int | None = None  # the served version that generated it (None: not known)
    logprobs: tuple[TokenLogprob, ...] | None = None  # one per token of the text, when asked


def validate_counts(
    prompts: Sequence[str], num_samples: int, max_new_tokens: int
) -> tuple[str, ...]:
    if isinstance(prompts, str):
        prompts = (prompts,)
    prompts = tuple(prompts)
    if not prompts:
        raise SamplingArgumentError("at least one prompt is needed")
    for i, prompt in enumerate(prompts):
        if not isinstance(prompt, str) or not prompt:
            raise SamplingArgumentError(
                f"prompt {i} is {prompt!r}: prompts must be non-empty strings (the model needs at "
                "least one character to start from)"
            )
    validate_integer("num_samples", num_samples, 1, defaults.CLIENT_MAX_TEXTS, numpy_ok=True)
    validate_integer(
        "max_new_tokens", max_new_tokens, 1, defaults.CLIENT_MAX_NEW_TOKENS, numpy_ok=True
    )
    if len(prompts) * num_samples > defaults.CLIENT_MAX_TEXTS:
        raise SamplingArgumentError(
            f"{len(prompts)} prompts x {num_samples} samples are more than "
            f"{defaults.CLIENT_MAX_TEXTS} texts in one call"
        )
    return prompts


def pad_prompts(encoded: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad with 0 into [prompts, longest] plus the true lengths (the prefill contract)."""
    lengths = np.array([len(e) for e in encoded], dtype=np.int32)
    ids = np.zeros((len(encoded), int(lengths.max())), dtype=np.int32)
    for row, e in enumerate(encoded):
        ids[row, : len(e)] = e
    return ids, lengths


def prefill_prompts(
    backend: SignatureBackend, encoded: Sequence[np.ndarray]
) -> tuple[np.ndarray, States]:
    """Feed every prompt from zero states: logits after each prompt's last token, and the states.

    A model with a fixed ``prefill`` width takes the prompts in chunks of that many tokens, one
    call per chunk, the states carried from call to call; a row whose prompt ended feeds nothing
    (length 0) and keeps its logits and states. Otherwise one call takes the whole prompts.
    """
    ids, lengths = pad_prompts(encoded)
    width = backend.signature.prefill_width
    if width is None:
        return backend.prefill(ids, lengths)
    states = None
    for start in range(0, ids.shape[1], width):
        chunk = np.zeros((len(ids), width), np.int32)
        piece = ids[:, start : start + width]
        chunk[:, : piece.shape[1]] = piece
        logits, states = backend.prefill(chunk, np.clip(lengths - start, 0, width), states)
    return logits, states


def stream_generation(
    backend: SignatureBackend,
    vocabulary: TokenVocabulary,
    request: GenerationRequest,
    steps_per_call: int = 1,
) -> Iterator[TextChunk]:
    """Yield text chunks as characters are sampled; every row ends with a chunk carrying its reason.

    Prompts must already be checked against ``vocabulary`` (`TextGenerator` does this before any
    RPC). With ``steps_per_call`` > 1 and a model that has a ``sample`` signature, each call
    samples that many characters in the model; otherwise each character is one step call sampled
    here. Both give the same text for the same seed (and the same log-probabilities); an
    export whose ``sample`` predates min-p, the penalties and the log-probabilities is driven
    the step way when a request uses them. Closing the iterator early stops generation after the
    current call.
    """
    encoded = [vocabulary.encode(p) for p in request.prompts]
    logits, states = prefill_prompts(backend, encoded)
    n = request.num_samples
    if n > 1:
        prompt_of_row = np.repeat(np.arange(len(request.prompts)), n)
        logits = logits[prompt_of_row]
        states = backend.select_rows(states, prompt_of_row)
    active = np.arange(request.rows)  # output rows still in the batch, in batch order
    generators = [row_generator(request.seed, row % n) for row in active]
    scanners = [StopStringScanner(request.stop) for _ in active]
    tracker = RowTracker(request, vocabulary, encoded)
    sampling = request.sampling
    in_model = steps_per_call > 1 and backend.signature.can_sample
    if in_model and tracker.needs_extras and not backend.signature.sample_extras:
        log.info(
            "%s: its sample signature predates %s; sampling here",
            backend.description,
            "min-p, penalties and logprobs",
        )
        in_model = False
    if backend.signature.sample_width is not None:
        steps_per_call = min(steps_per_call, backend.signature.sample_width)
    first = sample_next(logits, sampling, generators, tracker.penalties(active))
    block = first[:, None]  # [rows, characters]
    sampled = tracker.step_logprobs(logits, first)
    produced = 0
    while True:
        tracker.count(active, block)
        keep = np.ones(len(active), dtype=bool)
        for position, row in enumerate(active.tolist()):
            chunk = scan_block(
                TextChunk(row // n, row % n, ""),
                scanners[row],
                vocabulary.tokens,
                block[position],
                produced,
                request.max_new_tokens,
                tracker.queue(row, block[position], sampled, position),
            )
            keep[position] = chunk.finish_reason is None
            if chunk.text or chunk.finish_reason:
                yield chunk
        produced += block.shape[1]
        if not keep.any():
            return
        if not keep.all():
            kept = np.flatnonzero(keep)
            states = backend.select_rows(states, kept)
            active, block = active[kept], block[kept]
            generators = [generators[i] for i in kept.tolist()]
            log.debug(
                "%d row(s) stopped after %d characters; %d left",
                len(keep) - len(kept),
                produced,
                len(kept),
            )
        last_ids = block[:, -1:]
        steps = min(steps_per_call, request.max_new_tokens - produced)
        if in_model:
            uniforms = draw_uniforms(generators, steps, sampling)
            extras = tracker.extras(active) if backend.signature.sample_extras else None
            block, states, sampled = backend.sample(
                last_ids, states, uniforms, sampling, extras, tracker.wants_logprobs
            )
        else:
            logits, states = backend.step(last_ids, states)
            chosen = sample_next(logits, sampling, generators, tracker.penalties(active))
            block, sampled = chosen[:, None], tracker.step_logprobs(logits, chosen)


def scan_block(
    row: TextChunk,
    scanner: StopStringScanner,
    tokens: Sequence[str],
    ids: np.ndarray,
    produced: int,
    max_new_tokens: int,
    logprobs: LogprobQueue | None = None,
) -> TextChunk:
    """``row``'s chunk for its new ``ids``, passed through its stop-string scanner up to the first
    stop or the length limit (then with the finish reason and the count of sampled tokens), with
    the log-probabilities of the tokens its text spells (from ``logprobs``, the row's queue)."""
    parts = []
    for offset, token in enumerate(ids.tolist(), start=1):
        parts.append(scanner.push_text(tokens[token]))
        if scanner.stopped or produced + offset == max_new_tokens:
            reason = FINISH_STOP if scanner.stopped else FINISH_LENGTH
            parts.append(scanner.flush())
            text = "".join(parts)
            return dataclasses.replace(
                row,
                text=text,
                finish_reason=reason,
                new_tokens=produced + offset,
                logprobs=logprobs.release(len(text)) if logprobs else (),
            )
    text = "".join(parts)
    return dataclasses.replace(
        row, text=text, logprobs=logprobs.release(len(text)) if logprobs else ()
    )


def collect_results(
    request: GenerationRequest, chunks: Iterator[TextChunk], model_version: int | None = None
) -> list[GenerationResult]:
    """Join a stream into one result per row, ordered by prompt then sample."""
    parts: dict[int, list[str]] = {}
    entries: dict[int, list[TokenLogprob]] = {}
    finals: dict[int, TextChunk] = {}
    for chunk in chunks:
        row = request.row_of(chunk.prompt_index, chunk.sample_index)
        parts.setdefault(row, []).append(chunk.text)
        entries.setdefault(row, []).extend(chunk.logprobs)
        if chunk.finish_reason is not None:
            finals[row] = chunk
    results = []
    for row in range(request.rows):
        prompt_index, sample_index = divmod(row, request.num_samples)
        final = finals[row]
        results.append(
            GenerationResult(
                prompt=request.prompts[prompt_index],
                prompt_index=prompt_index,
                sample_index=sample_index,
                text="".join(parts[row]),
                finish_reason=final.finish_reason,
                new_tokens=final.new_tokens,
                seed=request.seed,
                model_version=model_version,
                logprobs=tuple(entries[row]) if request.logprobs is not None else None,
            )
        )
    return results
