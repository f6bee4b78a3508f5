"""An inference backend wrapper that records every model call the generation loop makes."""

from typing import NamedTuple


class Call(NamedTuple):
    name: str  # detokenize, prefill, step or sample
    rows: int
    characters: int  # characters the call generates: 1 per step, the uniforms' width per sample


class RecordingBackend:
    """Delegates to ``inner`` (a LocalBackend or GrpcBackend) and appends a `Call` per model call."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls: list[Call] = []

    signature = property(lambda self: self.inner.signature)
    description = property(lambda self: self.inner.description)

    def detokenize(self, ids):
        self.calls.append(Call("detokenize", len(ids), 0))
        return self.inner.detokenize(ids)

    def prefill(self, ids, lengths, states=None):
        self.calls.append(Call("prefill", len(ids), 0))
        return self.inner.prefill(ids, lengths, states)

    def step(self, ids, states):
        self.calls.append(Call("step", len(ids), 1))
        return self.inner.step(ids, states)

    def sample(self, ids, states, uniforms, params, extras=None, logprobs=False):
        self.calls.append(Call("sample", len(ids), uniforms.shape[1]))
        return self.inner.sample(ids, states, uniforms, params, extras, logprobs)

    def select_rows(self, states, rows):
        return self.inner.select_rows(states, rows)

    def close(self):
        self.inner.close()
