"""Continuous batching: every running request's rows share the model calls.

One engine thread loops: it admits waiting jobs (the latest version, the vocabulary check, the
prompts encoded), then makes at most one ``prefill`` call (the next chunk of up to
``max_rows_per_call`` prompts) and one ``sample`` call per served version (every decoding row,
each with its own steps, uniforms, temperature, top-k and top-p; the backend splits a call over
the server's row limit) at the same time, so a long prompt is prefilled chunk by chunk while
the others decode. A row joins the decode calls once its prompt is prefilled and leaves when it
finishes; a cancelled job's rows leave at the next call.

A row's text depends only on its prompt, parameters and seed: its first token is sampled here
from the prompt's logits and the rest in the model, each with the row's own uniforms from
``row_generator(seed, sample_index)``, as `charloom generate` does (serving/client/generation.py),
whatever else shares the calls.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from serving.client.errors import (
    GenerationError,
    IncompatibleModelError,
    ModelVersionUnloadedError,
    SamplingArgumentError,
)
from serving.client.generation import TextChunk, scan_block
from serving.gateway.jobs import Failed, Finished, Job, PromptScored, Started
from serving.gateway.metrics import GatewayMetrics
from serving.gateway.rows import (
    Fill,
    Row,
    check_features,
    decode_call,
    first_token,
    new_rows,
    prefill_call,
    prompt_entries,
    record_tokens,
    score_chunk,
)
from serving.gateway.upstream import Upstream

log = logging.getLogger(__name__)

IDLE_WAIT_SECONDS = 0.5


class QueueFullError(GenerationError):
    """More requests wait than the gateway admits (HTTP 429, RESOURCE_EXHAUSTED)."""


class Engine:
    """Runs jobs; `submit` is thread-safe and raises QueueFullError past the waiting limit."""

    def __init__(
        self,
        upstream: Upstream,
        metrics: GatewayMetrics,
        *,
        max_rows_per_call: int,
        steps_per_call: int,
        max_running_rows: int,
        max_waiting: int,
    ) -> None:
        self._upstream = upstream
        self._metrics = metrics
        self._max_rows = max_rows_per_call
        self._steps = steps_per_call
        self._max_running = max_running_rows
        self._max_waiting = max_waiting
        self._waiting: collections.deque[Job] = collections.deque()
        self._fills: list[Fill] = []
        self._rows: list[Row] = []
        self._remaining: dict[Job, int] = {}  # rows of a job not yet finished
        self._completion: dict[Job, int] = {}  # tokens generated so far
        self._cond = threading.Condition()
        self._stopped = False
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gateway-call")
        self._thread = threading.Thread(target=self._loop, name="gateway-engine", daemon=True)

    # -- the API side ----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=30)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def submit(self, job: Job) -> None:
        with self._cond:
            if self._stopped:
                raise QueueFullError("the gateway is shutting down")
            if len(self._waiting) >= self._max_waiting:
                raise QueueFullError(
                    f"{len(self._waiting)} requests are already waiting (--max-waiting-requests); "
                    "retry later"
                )
            self._waiting.append(job)
            self._metrics.waiting.set(len(self._waiting))
            self._cond.notify_all()

    def wake(self) -> None:
        """A job was cancelled: let the loop drop it now rather than at its next call."""
        with self._cond:
            self._cond.notify_all()

    @property
    def running_rows(self) -> int:
        return len(self._rows) + sum(self._rows_of_fill(f) for f in self._fills)

    # -- the loop ----------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                self._drop_cancelled()
                while not (self._stopped or self._rows or self._fills or self._waiting):
                    self._cond.wait(IDLE_WAIT_SECONDS)
                    self._drop_cancelled()
                if self._stopped:
                    self._fail_everything(QueueFullError("the gateway is shutting down"))
                    return
            try:
                self._admit()
                self._step()
            except Exception as exc:  # noqa: BLE001 - a bug must not kill the loop silently
                log.exception("gateway engine step failed")
                self._fail_everything(GenerationError(f"internal gateway error: {exc}"))

    def _admit(self) -> None:
        """Move waiting jobs to prefill while their rows fit under --max-running-rows. The jobs
        admitted in one pass start on the version that is the latest then: one metadata call
        per pass, not per job."""
        latest = None
        while True:
            with self._cond:
                if not self._waiting:
                    break
                job = self._waiting[0]
                if job.cancelled:
                    self._waiting.popleft()
                    continue
                if self.running_rows and self.running_rows + job.spec.rows > self._max_running:
                    break
                self._waiting.popleft()
                self._metrics.waiting.set(len(self._waiting))
            try:
                latest = latest or self._upstream.latest()
            except GenerationError as exc:
                self._refuse(job, exc)  # the next job asks again
                continue
            self._start(job, *latest)

    def _start(self, job: Job, backend, vocabulary) -> None:
        try:
            encoded = [vocabulary.encode(p) for p in job.spec.prompts]
        except GenerationError as exc:
            self._refuse(job, exc)
            return
        if backend.signature.prefill_width is None or not backend.signature.sample_steps:
            self._refuse(
                job,
                IncompatibleModelError(
                    f"{backend.description} was exported before charloom fixed its signature "
                    "widths; the gateway needs `prefill` of a fixed width and `sample` with "
                    "`steps`: export the model again"
                ),
            )
            return
        try:
            check_features(job.spec, backend, vocabulary)
        except GenerationError as exc:
            self._refuse(job, exc)
            return
        job.emit(Started(getattr(backend, "version", None), sum(len(e) for e in encoded)))
        self._remaining[job] = job.spec.rows
        self._completion[job] = 0
        scored = job.spec.echo and job.spec.logprobs is not None
        self._fills.extend(
            Fill(job, i, ids, backend, vocabulary, scores=[] if scored else None)
            for i, ids in enumerate(encoded)
        )
        self._count_running()

    def _refuse(self, job: Job, error: GenerationError) -> None:
        job.emit(Failed(error))
        self._metrics.finished("error")

    def _step(self) -> None:
        """One prefill call and one sample call per version, in flight at once; their results
        are applied here, in the engine thread, one after the other."""
        fills = self._next_fills()
        groups: dict[int, list[Row]] = {}
        for row in self._rows:
            groups.setdefault(id(row.backend), []).append(row)
        prefill = self._pool.submit(prefill_call, fills) if fills else None
        decodes = [
            (rows, self._pool.submit(decode_call, rows, self._steps)) for rows in groups.values()
        ]
        if prefill is not None:
            self._apply_prefill(fills, prefill)
        for rows, call in decodes:
            self._apply_decode(rows, call)

    # -- prefill -----------------------------------------------------------------------------------
    def _next_fills(self) -> list[Fill]:
        """The next chunk's prompts: up to the row limit, all on the first one's version."""
        if not self._fills:
            return []
        backend = self._fills[0].backend
        return [f for f in self._fills if f.backend is backend][: self._max_rows]

    def _apply_prefill(self, fills: list[Fill], call) -> None:
        try:
            lengths, logits, new_states, token_logprobs = call.result()
        except ModelVersionUnloadedError as exc:
            self._version_gone([], fills, exc)
            return
        except GenerationError as exc:
            self._call_failed({f.job for f in fills}, exc)
            return
        self._metrics.rows_per_call.observe(len(fills))
        for i, fill in enumerate(fills):
            if fill not in self._fills:
                continue  # its job was cancelled or failed meanwhile
            if fill.scored and token_logprobs is not None:
                score_chunk(fill, int(lengths[i]), logits[i], token_logprobs[i])
            fill.offset += int(lengths[i])
            fill.states = {name: value[i] for name, value in new_states.items()}
            if fill.offset >= len(fill.ids):
                self._fills.remove(fill)
                self._first_tokens(fill, logits[i])

    def _first_tokens(self, fill: Fill, logits: np.ndarray) -> None:
        """Sample each row's next token here from the prompt's logits, as the client does."""
        if fill.scored and fill.resumed is None:
            fill.job.emit(PromptScored(fill.prompt_index, prompt_entries(fill)))
        try:
            rows = new_rows(fill)
        except GenerationError as exc:  # a resumed text the new version cannot encode
            self._call_failed({fill.job}, exc)
            return
        for row in rows:
            ids, sampled = first_token(row, logits)
            self._scanned(row, ids, sampled)

    # -- decode ------------------------------------------------------------------------------------
    def _apply_decode(self, rows: list[Row], call) -> None:
        try:
            steps, sampled, new_states, logprobs = call.result()
        except ModelVersionUnloadedError as exc:
            self._version_gone(rows, [], exc)
            return
        except GenerationError as exc:
            self._call_failed({r.job for r in rows}, exc)
            return
        self._metrics.rows_per_call.observe(len(rows))
        for i, row in enumerate(rows):
            if row not in self._rows:
                continue  # its job was cancelled or failed meanwhile
            row.states = {name: value[i] for name, value in new_states.items()}
            self._rows.remove(row)
            self._scanned(row, sampled[i, : steps[i]], logprobs, i)

    def _scanned(self, row: Row, ids: np.ndarray, logprobs=None, position: int = 0) -> None:
        """Pass a row's new tokens through its stop scanner; emit its text (and the
        log-probabilities of the tokens it spells); keep the row or finish it."""
        job = row.job
        chunk = scan_block(
            TextChunk(row.prompt_index, row.sample_index, ""),
            row.scanner,
            row.vocabulary.tokens,
            ids,
            row.produced,
            job.spec.max_tokens,
            record_tokens(row, ids, logprobs, position),
        )
        row.produced += len(ids) if chunk.finish_reason is None else chunk.new_tokens - row.produced
        row.last_id = int(ids[-1])
        if chunk.text or chunk.finish_reason:
            now = time.monotonic()
            self._metrics.chunk(job, now)
            job.emit(chunk)
        if chunk.finish_reason is None:
            self._rows.append(row)
            return
        self._completion[job] += chunk.new_tokens
        self._metrics.tokens.inc(chunk.new_tokens)
        self._remaining[job] -= 1
        if self._remaining[job] == 0:
            self._finish(job, Finished(self._completion[job]), chunk.finish_reason)

    # -- endings -----------------------------------------------------------------------------------
    def _finish(self, job: Job, event, reason: str) -> None:
        self._remaining.pop(job, None)
        self._completion.pop(job, None)
        job.emit(event)
        self._metrics.finished(reason if isinstance(event, Finished) else "error")
        self._count_running()

    def _remove(self, jobs: set[Job]) -> None:
        self._rows = [r for r in self._rows if r.job not in jobs]
        self._fills = [f for f in self._fills if f.job not in jobs]

    def _call_failed(self, jobs: set[Job], error: GenerationError) -> None:
        self._remove(jobs)
        for job in jobs:
            if job in self._remaining:
                self._finish(job, Failed(error), "error")

    def _version_gone(
        self, rows: list[Row], fills: list[Fill], error: ModelVersionUnloadedError
    ) -> None:
        """The version of these rows or prompts was unloaded (a deploy) during their call: a job
        whose client has seen nothing yet (not streamed, or no chunk sent) starts again on the
        latest version (its text then comes from that version alone); the rows and prompts of
        a stream that has sent text go on there, each prompt and its text so far prefilled
        again."""
        log.info("%s; moving its requests to the version now served", error)
        rows = [r for r in rows if r in self._rows]  # not cancelled, failed or moved meanwhile
        fills = [f for f in fills if f in self._fills]
        jobs = {r.job for r in rows} | {f.job for f in fills}
        restart = {job for job in jobs if job.restartable}
        self._remove(restart)
        for job in restart:
            self._remaining.pop(job, None)
            self._completion.pop(job, None)
            with self._cond:
                self._waiting.appendleft(job)
        try:
            backend, vocabulary = self._upstream.latest()
        except GenerationError as exc:
            self._call_failed(jobs - restart, exc)
            return
        moved = [(f, f.resumed) for f in fills if f.job not in restart]
        moved += [(r, r) for r in rows if r.job not in restart]
        for item, row in moved:
            held = self._fills if isinstance(item, Fill) else self._rows
            if item not in held:
                continue  # its job failed on an earlier item's text
            held.remove(item)
            job, prompt_index = item.job, item.prompt_index
            text = job.spec.prompts[prompt_index] + (row.scanner.text if row else "")
            try:
                ids = vocabulary.encode(text)
            except SamplingArgumentError as exc:
                self._call_failed({job}, exc)
                continue
            self._fills.append(Fill(job, prompt_index, ids, backend, vocabulary, resumed=row))

    def _drop_cancelled(self) -> None:
        gone = {j for j in self._remaining if j.cancelled}
        if gone:
            self._remove(gone)
            for job in gone:
                self._remaining.pop(job, None)
                self._completion.pop(job, None)
                self._metrics.finished("abort")
            self._count_running()

    def _fail_everything(self, error: GenerationError) -> None:
        jobs = set(self._remaining)
        with self._cond:
            jobs |= set(self._waiting)
            self._waiting.clear()
        self._remove(jobs)
        for job in jobs:
            self._remaining.setdefault(job, 1)
            self._finish(job, Failed(error), "error")

    def _count_running(self) -> None:
        """The running-requests gauge: jobs with a prompt prefilling or a row decoding."""
        self._metrics.running.set(len({f.job for f in self._fills} | {r.job for r in self._rows}))

    def _rows_of_fill(self, fill: Fill) -> int:
        return 1 if fill.resumed is not None else fill.job.spec.n
