"""What a served model's answers must be, checked on every call: a server that breaks the contract
(a proxy, another model, a bug) is named with what it broke, in one line, instead of a traceback
deep in the client or, worse, text silently made of NaN logits.

Each answer is checked against the request (its rows) and the signature the client learned
(vocabulary size, state sizes): tensors present, of a numeric kind, of the expected shape, ids
inside the vocabulary, logits and states finite, texts valid UTF-8.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from serving.client.errors import IncompatibleModelError
from serving.client.model_signature import StepSignature
from serving.contract import LOGITS, NO_ID

States = dict[str, np.ndarray]


class ServerAnswerError(IncompatibleModelError):
    """A server's answer breaks the signature contract (its message says which call and how)."""


class AnswerCheck:
    """The checks of one backend's answers (``description`` names the server in messages)."""

    def __init__(self, description: str, signature: StepSignature) -> None:
        self._description = description
        self._signature = signature

    def fail(self, call: str, what: str) -> ServerAnswerError:
        return ServerAnswerError(
            f"{self._description} broke the signature contract: its {call} answer {what}"
        )

    def _array(self, call: str, out: Mapping[str, object], name: str) -> np.ndarray:
        if name not in out:
            raise self.fail(call, f"has no {name!r}")
        return np.asarray(out[name])

    def _shape(self, call: str, name: str, array: np.ndarray, expected: tuple) -> None:
        if array.shape != expected:
            raise self.fail(
                call, f"has {name!r} of shape {list(array.shape)}, not {list(expected)}"
            )

    def floats(
        self, call: str, out: Mapping[str, object], name: str, shape: tuple, *, finite: bool = True
    ) -> np.ndarray:
        """A float tensor of `shape`; NaN never, infinities only where `finite` is False."""
        array = self._array(call, out, name)
        if array.dtype.kind != "f":
            raise self.fail(call, f"has {name!r} of dtype {array.dtype}, not a float")
        self._shape(call, name, array, shape)
        if finite and not np.isfinite(array).all():
            raise self.fail(call, f"has NaN or infinite values in {name!r}")
        if not finite and np.isnan(array).any():
            raise self.fail(call, f"has NaN values in {name!r}")
        return array

    def ids(
        self, call: str, out: Mapping[str, object], name: str, rows: int, *, no_id: bool = False
    ) -> np.ndarray:
        """Integer ids [rows, any width] inside the vocabulary (or NO_ID where `no_id`)."""
        array = self._array(call, out, name)
        if array.dtype.kind not in "iu":
            raise self.fail(call, f"has {name!r} of dtype {array.dtype}, not integer ids")
        if array.ndim < 2 or array.shape[0] != rows:
            raise self.fail(call, f"has {name!r} of shape {list(array.shape)}, not [{rows}, ...]")
        size = self._signature.vocab_size
        outside = (array >= size) | ((array < 0) & ((array != NO_ID) if no_id else True))
        if outside.any():
            raise self.fail(
                call,
                f"has id {int(array[outside].flat[0])} in {name!r}, outside the vocabulary "
                f"of {size} tokens",
            )
        return array

    def logits(self, call: str, out: Mapping[str, object], rows: int) -> np.ndarray:
        return self.floats(call, out, LOGITS, (rows, self._signature.vocab_size))

    def states(self, call: str, out: Mapping[str, object], rows: int) -> States:
        return {
            spec.name: self.floats(call, out, spec.name, (rows, spec.units))
            for spec in self._signature.states
        }

    def texts(self, call: str, out: Mapping[str, object], name: str, rows: int) -> list[str]:
        array = self._array(call, out, name)
        values = array.reshape(-1).tolist() if array.dtype == object else None
        if values is None or len(values) != rows:
            raise self.fail(
                call,
                f"has {name!r} of shape {list(array.shape)} and dtype {array.dtype}, "
                f"not {rows} strings",
            )
        texts = []
        for row, value in enumerate(values):
            if not isinstance(value, bytes):
                raise self.fail(call, f"has row {row} of {name!r} that is no string")
            try:
                texts.append(value.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise self.fail(
                    call,
                    f"has row {row} of {name!r} that is not UTF-8 ({exc.reason} at byte {exc.start})",
                ) from None
        return texts
