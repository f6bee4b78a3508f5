"""The served model's characters, learned from its ``detokenize`` signature, for local encoding.

The vocabulary rule (README, "Corpora and vocabulary"): there is no unknown id, and a prompt with a
character outside the vocabulary is refused, naming the characters, before any Predict RPC.
"""

from __future__ import annotations

import unicodedata
from typing import Sequence

import numpy as np

from serving.client_errors import IncompatibleModelError, UnknownCharactersError

MAX_NAMED_CHARACTERS = 10


def describe_char(char: str) -> str:
    """``'é' (U+00E9 LATIN SMALL LETTER E WITH ACUTE)``; whitespace and controls shown escaped."""
    name = unicodedata.name(char, "")
    shown = repr(char) if not char.isprintable() or char.isspace() else f"'{char}'"
    return f"{shown} (U+{ord(char):04X}{' ' + name if name else ''})"


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
            shown = ", ".join(describe_char(c) for c in missing[:MAX_NAMED_CHARACTERS])
            more = f" and {len(missing) - MAX_NAMED_CHARACTERS} more" \
                if len(missing) > MAX_NAMED_CHARACTERS else ""
            raise UnknownCharactersError(
                f"prompt contains {len(missing)} character(s) not in the model's vocabulary: "
                f"{shown}{more}")
        return np.fromiter((self._ids[c] for c in text), dtype=np.int32, count=len(text))

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.chars[int(i)] for i in ids)
