"""Stop strings and streaming hold-back for one generated text.

A row stops as soon as its generated text (the prompt does not count) contains a stop string;
the result ends just before it. While streaming, characters that could be the beginning of a
stop string are held back until the next characters prove otherwise, so a stop string, or a
part of one, is never emitted.
"""

from __future__ import annotations

from collections.abc import Sequence

from serving.client.errors import SamplingArgumentError


def validate_stop_strings(stop: Sequence[str] | str | None) -> tuple[str, ...]:
    if stop is None:
        return ()
    if isinstance(stop, str):
        stop = (stop,)
    stop = tuple(stop)
    for s in stop:
        if not isinstance(s, str) or not s:
            raise SamplingArgumentError(f"stop strings must be non-empty strings, got {s!r}")
    return stop


class StopStringScanner:
    """Feeds characters one at a time; says what may be emitted and whether the text stopped."""

    def __init__(self, stop: tuple[str, ...]) -> None:
        self._stop = stop
        self._prefixes = frozenset(s[:k] for s in stop for k in range(1, len(s)))
        self._longest_prefix = max((len(s) - 1 for s in stop), default=0)
        self._text = ""
        self._emitted = 0
        self.stopped = False

    @property
    def text(self) -> str:
        """Everything generated so far (up to, excluding, the stop string once stopped)."""
        return self._text

    def push(self, char: str) -> str:
        """Add one character; return the text that is now safe to emit (maybe empty)."""
        if self.stopped:
            raise RuntimeError("push after the text stopped")
        self._text += char
        for s in self._stop:
            if self._text.endswith(s):
                self._text = self._text[: -len(s)]
                self.stopped = True
                return self._release(len(self._text))
        return self._release(len(self._text) - self._held_back())

    def push_text(self, text: str) -> str:
        """Add a token's characters one by one, up to a stop string; the text safe to emit."""
        out = []
        for char in text:
            out.append(self.push(char))
            if self.stopped:
                break
        return "".join(out)

    def flush(self) -> str:
        """The text still held back (call when generation ends without a stop string)."""
        return self._release(len(self._text))

    def _held_back(self) -> int:
        text = self._text
        for k in range(min(self._longest_prefix, len(text) - self._emitted), 0, -1):
            if text[-k:] in self._prefixes:
                return k
        return 0

    def _release(self, end: int) -> str:
        out = self._text[self._emitted : end]
        self._emitted = max(self._emitted, end)
        return out
