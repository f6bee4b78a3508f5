"""Token vocabulary: the tokens of a corpus in code-point order, saved beside every artifact.

A character model's tokens are the corpus' characters; a word model's are frequent words plus
every character (trainer/tokenizers.py). Rule for unseen characters: the vocabulary has no
"unknown" id. Encoding text that contains a character the corpus never had is a clear error
naming the characters (here, in the client before any RPC, and in the exported ``tokenize``
signature, which returns id -1 for them; the other signatures reject ids outside ``[0, size)``
with INVALID_ARGUMENT).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from serving.contract import (
    MAX_TOKEN_CHARS,
    NO_ID,
    longest_match,
    unknown_characters_message,
    vocabulary_order,
)
from trainer.errors import VocabularyError
from trainer.jsonfile import read_json_object, write_json_atomic
from trainer.tokenizers import segment, vocabulary_tokens

FILE_NAME = "vocabulary.json"
FORMAT = "charloom-vocabulary/2"
CHARACTERS_FORMAT = "charloom-vocabulary/1"  # written before word models: {"chars": [...]}


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    tokens: tuple[str, ...]
    tokenizer: str = "char"

    def __post_init__(self) -> None:
        if not self.tokens:
            raise VocabularyError("a vocabulary needs at least one token")
        if any(not isinstance(t, str) or not 1 <= len(t) <= MAX_TOKEN_CHARS for t in self.tokens):
            raise VocabularyError(
                f"vocabulary tokens must be strings of 1 to {MAX_TOKEN_CHARS} characters"
            )
        if list(self.tokens) != sorted(set(self.tokens)):
            raise VocabularyError("vocabulary tokens must be unique and in code-point order")
        if self.tokenizer == "char" and any(len(t) != 1 for t in self.tokens):
            raise VocabularyError("a character vocabulary holds single characters")
        if self.tokenizer not in ("char", "word"):
            raise VocabularyError(f"unknown tokenizer {self.tokenizer!r}")
        object.__setattr__(self, "_ids", {t: i for i, t in enumerate(self.tokens)})
        object.__setattr__(self, "_longest", max(len(t) for t in self.tokens))

    @classmethod
    def from_text(
        cls, text: str, tokenizer: str = "char", min_count: int = 1, max_vocab: int | None = None
    ) -> Vocabulary:
        return build(text, tokenizer, min_count, max_vocab)[0]

    @property
    def size(self) -> int:
        return len(self.tokens)

    @property
    def fingerprint(self) -> str:
        """sha256 of the tokens in order: two artifacts with equal fingerprints share ids."""
        if self.tokenizer == "char":
            return hashlib.sha256("".join(self.tokens).encode("utf-8")).hexdigest()
        return hashlib.sha256(("word\0" + "\0".join(self.tokens)).encode("utf-8")).hexdigest()

    @property
    def token_lengths(self) -> np.ndarray:
        """Characters per token (int32 [size]): what bits per character divide by."""
        return np.array([len(t) for t in self.tokens], dtype=np.int32)

    def unknown(self, text: str) -> list[str]:
        """Characters of ``text`` that no token stands for."""
        return sorted({c for c in text if c not in self._ids})  # type: ignore[attr-defined]

    def _check_known(self, text: str) -> None:
        missing = self.unknown(text)
        if missing:
            raise VocabularyError(unknown_characters_message("text", "the vocabulary", missing))

    def encode(self, text: str) -> np.ndarray:
        """``text`` as ids the way training sees it: the tokenizer's segmentation, a piece the
        vocabulary lacks split into its characters."""
        self._check_known(text)
        ids: dict[str, int] = self._ids  # type: ignore[attr-defined]
        if self.tokenizer == "char":
            return np.fromiter((ids[c] for c in text), dtype=np.int32, count=len(text))
        return _ids_of(segment(text, self.tokenizer), ids)

    def encode_longest_match(self, text: str) -> np.ndarray:
        """``text`` as a served model encodes a prompt (serving/contract.py's greedy longest match)."""
        self._check_known(text)
        out = longest_match(text, self._ids, self._longest)  # type: ignore[attr-defined]
        assert NO_ID not in out  # every character is a token: checked above
        return np.asarray(out, dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> str:
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.size]
        if bad:
            raise VocabularyError(f"ids {bad[:5]} are outside the vocabulary [0, {self.size})")
        return "".join(self.tokens[i] for i in ids)

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "tokenizer": self.tokenizer,
            "size": self.size,
            "fingerprint": self.fingerprint,
            "tokens": list(self.tokens),
        }

    @classmethod
    def from_json(cls, data: dict) -> Vocabulary:
        if not isinstance(data, dict):
            raise VocabularyError(f"not a {FORMAT} document")
        try:
            if data.get("format") == CHARACTERS_FORMAT and "chars" in data:
                vocab = cls(tuple(data["chars"]), "char")
            elif data.get("format") == FORMAT and "tokens" in data:
                vocab = cls(tuple(data["tokens"]), data.get("tokenizer", "char"))
            else:
                raise VocabularyError(f"not a {FORMAT} document")
        except TypeError:
            raise VocabularyError(
                "vocabulary file is corrupted: tokens are not a list of strings"
            ) from None
        if data.get("fingerprint") not in (None, vocab.fingerprint):
            raise VocabularyError(
                "vocabulary file is corrupted: fingerprint does not match its tokens"
            )
        return vocab

    def save(self, directory: os.PathLike | str) -> Path:
        path = Path(directory) / FILE_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, self.to_json())
        return path

    @classmethod
    def load(cls, directory: os.PathLike | str) -> Vocabulary:
        path = Path(directory) / FILE_NAME
        data = read_json_object(path, VocabularyError, f"no {FILE_NAME} in {directory}")
        try:
            return cls.from_json(data)
        except VocabularyError as exc:
            raise VocabularyError(f"{path}: {exc}") from None


def _ids_of(pieces: list[str], ids: dict[str, int]) -> np.ndarray:
    out: list[int] = []
    for piece in pieces:
        found = ids.get(piece)
        if found is not None:
            out.append(found)
        else:
            out.extend(ids[c] for c in piece)
    return np.asarray(out, dtype=np.int32)


def build(
    text: str, tokenizer: str = "char", min_count: int = 1, max_vocab: int | None = None
) -> tuple[Vocabulary, np.ndarray]:
    """The vocabulary of a corpus and the corpus encoded with it (one segmentation pass)."""
    if tokenizer == "char":
        vocabulary = Vocabulary(vocabulary_order(text), "char")
        return vocabulary, vocabulary.encode(text)
    pieces = segment(text, tokenizer)
    vocabulary = Vocabulary(vocabulary_tokens(pieces, min_count, max_vocab), tokenizer)
    return vocabulary, _ids_of(pieces, vocabulary._ids)  # type: ignore[attr-defined]
