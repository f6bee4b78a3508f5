"""`charloom data`: inspect a corpus (vocabulary, split, a batch, a sample) and seed the download cache."""

from __future__ import annotations

import argparse

from charloom.commands.options import (
    TOKENIZER_OVERRIDES,
    add_corpus_arguments,
    add_tokenizer_arguments,
    overrides,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="inspect corpora and seed the download cache")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    inspect = data_sub.add_parser(
        "inspect", help="load a corpus, build its vocabulary and dataset, show stats"
    )
    add_corpus_arguments(inspect)
    inspect.add_argument(
        "--config",
        default=None,
        help="training config (YAML file or preset) for seq_len, batch_size, split",
    )
    inspect.add_argument("--seq-len", type=int, default=None)
    inspect.add_argument("--batch-size", type=int, default=None)
    inspect.add_argument("--validation-fraction", type=float, default=None)
    inspect.add_argument("--sample-chars", type=int, default=250, help="how much text to show")
    add_tokenizer_arguments(inspect)
    inspect.set_defaults(handler=_inspect)

    seed = data_sub.add_parser("seed", help="copy a local copy of a built-in corpus into the cache")
    seed.add_argument(
        "file",
        help="e.g. ../shared/data/tinyshakespeare.txt, ../shared/data/zh-tang300.txt, or "
        "/usr/share/games/fortunes/tang300 of Debian's fortunes-zh package",
    )
    seed.set_defaults(handler=_seed)


def _seed(args: argparse.Namespace) -> int:
    from trainer.corpus import cache_dir, seed_cache

    builtin = seed_cache(args.file)
    print(f"seeded built-in corpus {builtin.name!r} into {cache_dir()}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from trainer.config import load_config
    from trainer.corpus import load_corpus
    from trainer.inspection import inspect_corpus

    config = load_config(
        args.config,
        overrides(args, ("seq_len", "batch_size", "validation_fraction") + TOKENIZER_OVERRIDES),
    )
    corpus = load_corpus(args.corpus, args.corpus_sha256)
    report = inspect_corpus(corpus, config)
    print(report.render(sample_chars=args.sample_chars))
    return 0
