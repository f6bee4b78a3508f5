"""Arguments several subcommands share."""

from __future__ import annotations

import argparse

TOKENIZER_OVERRIDES = ("tokenizer", "min_count", "max_vocab")


def add_corpus_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    from trainer.corpus import BUILTIN_CORPORA

    parser.add_argument(
        "--corpus",
        required=required,
        help="a .txt file, a directory of .txt files (joined in name order), "
        "an https URL (with --corpus-sha256) or a built-in name: " + ", ".join(BUILTIN_CORPORA),
    )
    parser.add_argument(
        "--corpus-sha256",
        default=None,
        help="expected sha256 of a URL corpus (required) or of a local file (checked)",
    )


def add_tokenizer_arguments(parser: argparse.ArgumentParser) -> None:
    from trainer.config import TOKENIZERS

    parser.add_argument(
        "--tokenizer",
        choices=TOKENIZERS,
        default=None,
        help="char: one token per character (default); word: jieba words plus every "
        "character as a fallback",
    )
    parser.add_argument(
        "--min-count",
        type=int,
        default=None,
        help="word: occurrences a word needs to become a token (default 2)",
    )
    parser.add_argument(
        "--max-vocab",
        type=int,
        default=None,
        help="word: keep at most this many words, the most frequent (default: no cap)",
    )


def overrides(args: argparse.Namespace, names: tuple[str, ...]) -> dict:
    """The named flags the user gave (not None), as config overrides."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
