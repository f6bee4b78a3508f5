"""The served model's characters, learned from its ``detokenize`` signature, for local encoding.

The vocabulary rules are serving/contract.py's: there is no unknown id, and a prompt with a
character outside the vocabulary is refused, naming the characters, before any Predict RPC.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from serving.client.errors import IncompatibleModelError, UnknownCharactersError
from serving.contract import unknown_characters_message


class CharVocabulary:
    """Id <-> character tables of a served model (id i is the i-th character)."""

    def __init__(self, chars: Sequence[str]) -> None:
        chars = tuple(chars)
        if not chars:
            raise IncompatibleModelError("the model's vocabulary is empty")
        bad = [i for i, c in enumerate(chars) if len(c) != 1]
        if bad:
            raise IncompatibleModelError(
                f"detokenize returned {len(chars[bad[0]])} characters for id {bad[0]}; "
                "every id must stand for one code point")
        if len(set(chars)) != len(chars):
            raise IncompatibleModelError("the model's vocabulary has duplicate characters")
        self.chars = chars
        self._ids = {c: i for i, c in enumerate(chars)}

    @property
    def size(self) -> int:
        return len(self.chars)

    def unknown(self, text: str) -> list[str]:
        return sorted({c for c in text if c not in self._ids})

    def encode(self, text: str) -> np.ndarray:
        """int32 ids of ``text``; raises UnknownCharactersError naming unseen characters."""
        missing = self.unknown(text)
        if missing:
            raise UnknownCharactersError(unknown_characters_message("prompt", "the model's vocabulary", missing))
        return np.fromiter((self._ids[c] for c in text), dtype=np.int32, count=len(text))

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.chars[int(i)] for i in ids)
