"""Arguments several subcommands share."""

from __future__ import annotations

import argparse


def add_corpus_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--corpus", required=required,
                        help="a .txt file, a directory of .txt files (joined in name order), "
                             "an https URL (with --corpus-sha256) or a built-in name: shakespeare")
    parser.add_argument("--corpus-sha256", default=None,
                        help="expected sha256 of a URL corpus (required) or of a local file (checked)")


def overrides(args: argparse.Namespace, names: tuple[str, ...]) -> dict:
    """The named flags the user gave (not None), as config overrides."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
