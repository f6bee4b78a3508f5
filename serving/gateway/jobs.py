"""One generation request inside the gateway, between the API that took it and the engine that
runs it.

The API validates a request into a `JobSpec`, wraps it in a `Job` with a sink for its events and
submits it; the engine (another thread) calls `Job.emit` with `Started`, `TextChunk`s (the
client's own type: one output row's new text, the last one with its finish reason), and finally
`Finished` or `Failed`; a job restarted on a new version before any chunk (a deploy) gets a
second `Started`. A job cancelled by its consumer (a client that went away) leaves the
batch at the engine's next model call.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

from serving.client.generation import TextChunk
from serving.client.logprobs import TokenLogprob
from serving.client.sampling import SamplingParams


@dataclasses.dataclass(frozen=True)
class JobSpec:
    """A validated request: every prompt is sampled ``n`` times; rows are numbered
    ``prompt_index * n + sample_index`` (OpenAI's choice index)."""

    prompts: tuple[str, ...]
    n: int
    max_tokens: int
    sampling: SamplingParams
    seed: int
    stop: tuple[str, ...]
    logprobs: int | None = None  # None: none; N: each token's and its N top alternatives
    echo: bool = False  # the prompt before each choice's text (with logprobs: scored)

    @property
    def rows(self) -> int:
        return len(self.prompts) * self.n

    @property
    def completion_id(self) -> str:
        """The id both APIs answer with (OpenAI's ``cmpl-...``), from the seed."""
        return f"cmpl-{self.seed:x}"


@dataclasses.dataclass(frozen=True)
class Started:
    """The job runs on ``version``; its prompts are ``prompt_tokens`` tokens long in all."""

    version: int | None
    prompt_tokens: int


@dataclasses.dataclass(frozen=True)
class PromptScored:
    """Prompt ``prompt_index``'s tokens and their log-probabilities (``echo`` with logprobs; the
    first token's is None: nothing precedes it)."""

    prompt_index: int
    entries: tuple[TokenLogprob, ...]


@dataclasses.dataclass(frozen=True)
class Finished:
    completion_tokens: int


@dataclasses.dataclass(frozen=True)
class Failed:
    error: BaseException


Event = Started | PromptScored | TextChunk | Finished | Failed


class Job:
    """A request in flight: its spec, where its events go, and whether its consumer left."""

    def __init__(self, spec: JobSpec, sink: Callable[[Event], None], streamed: bool = True) -> None:
        self.spec = spec
        self.streamed = streamed  # its chunks reach the client as they come
        self.created = int(time.time())
        self.submitted = time.monotonic()
        self._sink = sink
        self._cancelled = threading.Event()
        self.delivered_text = False  # a chunk reached the consumer (a restart would repeat it)
        self.first_token_at: float | None = None
        self.last_chunk_at: float | None = None

    def emit(self, event: Event) -> None:
        if isinstance(event, TextChunk):
            self.delivered_text = True
        self._sink(event)

    @property
    def restartable(self) -> bool:
        """Whether it can start over (on a new version) without the client seeing it: nothing
        of it reached the client yet."""
        return not (self.streamed and self.delivered_text)

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()
