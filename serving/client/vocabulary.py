"""The served model's tokens, learned from its ``detokenize`` signature, for local encoding.

The vocabulary rules are serving/contract.py's: text is encoded by greedy longest match over the
model's tokens (one character per token for a character model), there is no unknown id, and a
prompt with a character no token starts with is refused, naming the characters, before any
Predict RPC. No tokenizer library or vocabulary file is needed: the tokens are the model's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from serving.client.errors import IncompatibleModelError, UnknownCharactersError
from serving.contract import MAX_TOKEN_CHARS, NO_ID, longest_match, unknown_characters_message


class TokenVocabulary:
    """Id <-> token tables of a served model (id i is the i-th token)."""

    def __init__(self, tokens: Sequence[str]) -> None:
        tokens = tuple(tokens)
        if not tokens:
            raise IncompatibleModelError("the model's vocabulary is empty")
        bad = [i for i, t in enumerate(tokens) if not 1 <= len(t) <= MAX_TOKEN_CHARS]
        if bad:
            raise IncompatibleModelError(
                f"detokenize returned {len(tokens[bad[0]])} characters for id {bad[0]}; every id must stand "
                f"for 1 to {MAX_TOKEN_CHARS} characters"
            )
        if len(set(tokens)) != len(tokens):
            raise IncompatibleModelError("the model's vocabulary has duplicate tokens")
        self.tokens = tokens
        self._ids = {t: i for i, t in enumerate(tokens)}
        self._longest = max(len(t) for t in tokens)
        self._characters = frozenset(t for t in tokens if len(t) == 1)

    @property
    def token_ids(self) -> dict[str, int]:
        """Token -> id."""
        return dict(self._ids)

    @property
    def size(self) -> int:
        return len(self.tokens)

    @property
    def is_character_level(self) -> bool:
        return self._longest == 1

    def unknown(self, text: str) -> list[str]:
        """Characters of ``text`` no token starts with (every word model holds its characters)."""
        return sorted({c for c in text if c not in self._characters})

    def encode(self, text: str, subject: str = "prompt") -> np.ndarray:
        """int32 ids of ``text``; raises UnknownCharactersError naming unseen characters (and
        ``subject``: what the text is)."""
        ids = longest_match(text, self._ids, self._longest)
        if NO_ID in ids:
            raise UnknownCharactersError(
                unknown_characters_message(subject, "the model's vocabulary", self.unknown(text))
            )
        return np.asarray(ids, dtype=np.int32)

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.tokens[int(i)] for i in ids)
