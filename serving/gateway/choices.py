"""A request's choices as both APIs answer them: the text and finish reason of each (prompt,
sample), the log-probability entries of its tokens when asked, and ``echo``'s prompt (with its
scored tokens) before the text. Events arrive from the engine; a restart on a new version
(a second Started) starts every choice over."""

from __future__ import annotations

import dataclasses

from serving.client.generation import TextChunk
from serving.client.logprobs import TokenLogprob
from serving.gateway.jobs import JobSpec, PromptScored, Started


@dataclasses.dataclass
class Choice:
    index: int
    text: str
    finish_reason: str | None
    entries: list[TokenLogprob] | None  # None: logprobs were not asked for


class ChoiceCollector:
    """The choices of a whole (not streamed) request."""

    def __init__(self, spec: JobSpec) -> None:
        self.spec = spec
        self._reset()

    def _reset(self) -> None:
        rows = self.spec.rows
        self._texts: list[list[str]] = [[] for _ in range(rows)]
        self._reasons: list[str | None] = [None] * rows
        self._entries: list[list[TokenLogprob]] = [[] for _ in range(rows)]
        self._prompt_entries: dict[int, tuple[TokenLogprob, ...]] = {}

    def add(self, event: Started | PromptScored | TextChunk) -> None:
        if isinstance(event, Started):
            self._reset()
        elif isinstance(event, PromptScored):
            self._prompt_entries[event.prompt_index] = event.entries
        else:
            index = choice_index(event, self.spec.n)
            self._texts[index].append(event.text)
            self._entries[index].extend(event.logprobs)
            self._reasons[index] = event.finish_reason or self._reasons[index]

    def choices(self) -> list[Choice]:
        out = []
        for index, parts in enumerate(self._texts):
            prompt_index = index // self.spec.n
            text, entries = "".join(parts), self._entries[index]
            if self.spec.echo:
                text = self.spec.prompts[prompt_index] + text
                entries = [*self._prompt_entries.get(prompt_index, ()), *entries]
            wanted = self.spec.logprobs is not None
            out.append(Choice(index, text, self._reasons[index], entries if wanted else None))
        return out


class TextOffsets:
    """Where each choice's next token starts in its text (a stream's ``text_offset``)."""

    def __init__(self, rows: int) -> None:
        self._next = [0] * rows

    def take(self, index: int, entries) -> int:
        start = self._next[index]
        self._next[index] += sum(len(e.token) for e in entries)
        return start


def choice_index(chunk: TextChunk, n: int) -> int:
    return chunk.prompt_index * n + chunk.sample_index


def openai_logprobs(entries: list[TokenLogprob] | tuple[TokenLogprob, ...], offset: int) -> dict:
    """OpenAI's completions ``logprobs`` object for ``entries`` starting at ``offset`` of the
    text: tokens, their log-probabilities, each one's top alternatives (the token itself when
    none were asked for; null for a prompt's first token) and their text offsets."""
    out = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
    for entry in entries:
        out["tokens"].append(entry.token)
        out["token_logprobs"].append(entry.logprob)
        if entry.top:
            top = dict(entry.top)
        else:
            top = None if entry.logprob is None else {entry.token: entry.logprob}
        out["top_logprobs"].append(top)
        out["text_offset"].append(offset)
        offset += len(entry.token)
    return out
