"""Shared fixtures: an isolated corpus cache seeded from ../shared/data when it is there."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_SHAKESPEARE = Path(os.environ.get(
    "CHARLOOM_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")) / "tinyshakespeare.txt"

_WORDS = ("the king my lord and thou art not what shall be done to him that love "
          "in her eyes with all this night I have heard of your grace good sir").split()


def synthetic_text(n_chars: int, seed: int = 0) -> str:
    """Word-level noise with speakers and line breaks: learnable structure, no external data."""
    rng = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < n_chars:
        line = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 9)))
        chunk = f"{rng.choice(['KING', 'ROMEO', 'JULIET'])}:\n{line.capitalize()}.\n\n"
        out.append(chunk)
        size += len(chunk)
    return "".join(out)[:n_chars]


@pytest.fixture(autouse=True, scope="session")
def corpus_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test sees its own cache; the built-in corpus is seeded there when a local copy exists."""
    cache = tmp_path_factory.mktemp("charloom-cache")
    os.environ["CHARLOOM_CACHE_DIR"] = str(cache)
    if SHARED_SHAKESPEARE.is_file():
        from trainer.corpus import seed_cache

        seed_cache(SHARED_SHAKESPEARE)
    return cache


@pytest.fixture(scope="session")
def shakespeare_path() -> Path:
    if not SHARED_SHAKESPEARE.is_file():
        pytest.skip(f"tiny Shakespeare not present at {SHARED_SHAKESPEARE}")
    return SHARED_SHAKESPEARE


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40k-character text file: tiny Shakespeare's head when present, else synthetic text."""
    path = tmp_path_factory.mktemp("corpus") / "small.txt"
    if SHARED_SHAKESPEARE.is_file():
        path.write_text(SHARED_SHAKESPEARE.read_text(encoding="utf-8")[:40_000], encoding="utf-8")
    else:
        path.write_text(synthetic_text(40_000), encoding="utf-8")
    return path
