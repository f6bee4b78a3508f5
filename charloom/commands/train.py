"""`charloom train`: train a config on a corpus into a run directory (checkpoints every epoch, resumable)."""

from __future__ import annotations

import argparse

from charloom.commands.options import (
    TOKENIZER_OVERRIDES,
    add_corpus_arguments,
    add_tokenizer_arguments,
    overrides,
)

TRAIN_OVERRIDES = (
    "epochs",
    "steps_per_epoch",
    "validation_steps",
    "batch_size",
    "seq_len",
    "learning_rate",
    "seed",
    "early_stopping_patience",
    "reduce_lr_patience",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train", help="train a model into a run directory (checkpoints every epoch, resumable)"
    )
    add_corpus_arguments(train, required=False)
    train.add_argument(
        "--config",
        default=None,
        help="training config: a YAML file or a preset (tiny, tutorial-gru1024, "
        "harry-potter-gru, chollet-lstm128, chollet-word-lstm256); on --resume "
        "defaults to the run's",
    )
    train.add_argument("--out", required=True, help="run directory, e.g. runs/NAME")
    train.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its latest checkpoint"
    )
    train.add_argument(
        "--replicas",
        type=int,
        default=None,
        help="CPU only: split the CPU into N logical devices (MirroredStrategy "
        "replicas); with GPUs, all visible GPUs are used",
    )
    train.add_argument(
        "--threads", type=int, default=None, help="TensorFlow intra/inter-op threads"
    )
    for name in TRAIN_OVERRIDES:
        kind = float if name == "learning_rate" else int
        train.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=None,
            help=f"override the config's {name}",
        )
    add_tokenizer_arguments(train)
    train.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from trainer.config import load_config
    from trainer.corpus import load_corpus
    from trainer.errors import ConfigError, RunError

    out = Path(args.out)
    changes = overrides(args, TRAIN_OVERRIDES + TOKENIZER_OVERRIDES)
    corpus_spec = args.corpus
    if args.resume:
        from trainer.runs import read_run

        run = read_run(out)
        base = args.config or None
        config = (
            load_config(base, changes)
            if base
            else load_config(None, {**run.get("config", {}), **changes})
        )
        corpus_spec = corpus_spec or (run.get("corpus") or {}).get("source")
    else:
        config = load_config(args.config, changes)
    if not corpus_spec:
        raise ConfigError("--corpus is required (or --resume a run that recorded its corpus)")
    if not args.resume and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunError(
            f"run directory {out} is not empty; pass --resume to continue it or choose a new --out"
        )
    if args.replicas is not None and args.replicas >= 1 and config.batch_size % args.replicas:
        raise ConfigError(
            f"batch_size {config.batch_size} (global) is not divisible by the "
            f"{args.replicas} replicas; use a multiple of {args.replicas}"
        )
    corpus = load_corpus(corpus_spec, args.corpus_sha256)

    from trainer.devices import configure_strategy
    from trainer.training import train

    strategy = configure_strategy(args.replicas, args.threads)
    result = train(
        config,
        corpus,
        out,
        strategy=strategy,
        resume_from=out if args.resume else None,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    best = min(
        (h for h in result.history if "val_loss" in h), key=lambda h: h["val_loss"], default=None
    )
    best_text = (
        f"best val_bpc {best['val_bpc']:.3f} at epoch {best['epoch']}"
        if best
        else "no validation yet"
    )
    print(
        f"trained {out}: {result.epochs_completed}/{config.epochs} epochs"
        f"{' (stopped early)' if result.stopped_early else ''}, {best_text}, "
        f"{strategy.num_replicas_in_sync} replica(s); best checkpoint {result.best_checkpoint_dir}"
    )
    return 0
