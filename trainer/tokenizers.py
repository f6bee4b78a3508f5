"""Tokenizers: how a corpus becomes tokens, and which tokens a vocabulary keeps.

- ``char``: every character is a token (the default; the TF tutorial's and Karpathy's models).
- ``word``: jieba's segmentation (Chollet's chapter, Chinese edition): Chinese words, and for
  other text words, numbers, whitespace runs and punctuation. Segments concatenate back to the
  exact text. The vocabulary keeps the words seen at least ``min_count`` times (at most
  ``max_vocab`` of them, the most frequent) and at most `MAX_TOKEN_CHARS` long, plus every
  character of the corpus; a rarer word is encoded as its characters, so every text made of the
  corpus' characters can be encoded.

Training encodes the corpus with jieba's segmentation; a served model encodes prompts by greedy
longest match over its own tokens (serving/contract.py, since TF Serving has no jieba), which
may segment differently but always gives valid ids.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter

from serving.contract import MAX_TOKEN_CHARS, vocabulary_order
from trainer.errors import ConfigError

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _jieba():
    """One jieba tokenizer per process (its dictionary takes a second to load)."""
    try:
        import jieba
    except ImportError:  # pragma: no cover - a declared dependency
        raise ConfigError("tokenizer 'word' needs the jieba package (pip install jieba)") from None
    logging.getLogger("jieba").setLevel(logging.WARNING)  # its dictionary-loading chatter
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def segment(text: str, tokenizer: str) -> list[str]:
    """``text`` as tokens of the given tokenizer; they concatenate back to ``text``."""
    if tokenizer == "char":
        return list(text)
    if tokenizer == "word":
        pieces = _jieba().lcut(text, HMM=True)
        if sum(len(p) for p in pieces) != len(
            text
        ):  # jieba promises it; a silent drift would corrupt ids
            raise ConfigError("jieba's segmentation does not concatenate back to the text")
        return pieces
    raise ConfigError(f"unknown tokenizer {tokenizer!r}")


def vocabulary_tokens(
    pieces: list[str], min_count: int = 1, max_vocab: int | None = None
) -> tuple[str, ...]:
    """The tokens a vocabulary keeps from a segmented corpus (see the module docstring)."""
    characters = {c for piece in pieces for c in piece}
    counts = Counter(p for p in pieces if 1 < len(p) <= MAX_TOKEN_CHARS)
    words = [
        w for w, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])) if n >= min_count
    ]
    if max_vocab is not None:
        words = words[:max_vocab]
    return vocabulary_order(characters | set(words))
