"""Character vocabulary: Unicode code points in code-point order, saved beside every artifact.

Rule for unseen characters: the vocabulary has no "unknown" id. Encoding text that contains a
character the corpus never had is a clear error naming the characters (here, in the client
before any RPC, and in the exported ``tokenize`` signature, which returns id -1 for them; the
step and prefill signatures reject ids outside ``[0, size)`` with INVALID_ARGUMENT).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from serving.contract import unknown_characters_message, vocabulary_order
from trainer.errors import VocabularyError
from trainer.jsonfile import read_json_object, write_json_atomic

FILE_NAME = "vocabulary.json"
FORMAT = "charloom-vocabulary/1"


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    chars: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.chars:
            raise VocabularyError("a vocabulary needs at least one character")
        if any(len(c) != 1 for c in self.chars):
            raise VocabularyError("vocabulary entries must be single code points")
        if list(self.chars) != sorted(set(self.chars)):
            raise VocabularyError("vocabulary characters must be unique and in code-point order")

    @classmethod
    def from_text(cls, text: str) -> "Vocabulary":
        return cls(vocabulary_order(text))

    @property
    def size(self) -> int:
        return len(self.chars)

    @property
    def fingerprint(self) -> str:
        """sha256 of the characters in order: two artifacts with equal fingerprints share ids."""
        return hashlib.sha256("".join(self.chars).encode("utf-8")).hexdigest()

    def unknown(self, text: str) -> list[str]:
        known = set(self.chars)
        return sorted({c for c in text if c not in known})

    def encode(self, text: str) -> np.ndarray:
        missing = self.unknown(text)
        if missing:
            raise VocabularyError(unknown_characters_message("text", "the vocabulary", missing))
        table = {c: i for i, c in enumerate(self.chars)}
        return np.fromiter((table[c] for c in text), dtype=np.int32, count=len(text))

    def decode(self, ids: Iterable[int]) -> str:
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.size]
        if bad:
            raise VocabularyError(f"ids {bad[:5]} are outside the vocabulary [0, {self.size})")
        return "".join(self.chars[i] for i in ids)

    def to_json(self) -> dict:
        return {"format": FORMAT, "size": self.size, "fingerprint": self.fingerprint,
                "chars": list(self.chars)}

    @classmethod
    def from_json(cls, data: dict) -> "Vocabulary":
        if not isinstance(data, dict) or data.get("format") != FORMAT or "chars" not in data:
            raise VocabularyError(f"not a {FORMAT} document")
        vocab = cls(tuple(data["chars"]))
        if data.get("fingerprint") not in (None, vocab.fingerprint):
            raise VocabularyError("vocabulary file is corrupted: fingerprint does not match its characters")
        return vocab

    def save(self, directory: os.PathLike | str) -> Path:
        path = Path(directory) / FILE_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, self.to_json())
        return path

    @classmethod
    def load(cls, directory: os.PathLike | str) -> "Vocabulary":
        path = Path(directory) / FILE_NAME
        data = read_json_object(path, VocabularyError, f"no {FILE_NAME} in {directory}")
        try:
            return cls.from_json(data)
        except VocabularyError as exc:
            raise VocabularyError(f"{path}: {exc}") from None

