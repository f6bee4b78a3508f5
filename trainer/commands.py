"""Trainer subcommands: `data`, `train`, `export`, `tune`."""

from __future__ import annotations

import argparse

from trainer.errors import TrainerError

USER_ERRORS = (TrainerError,)


def add_corpus_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--corpus", required=required,
                        help="a .txt file, a directory of .txt files (joined in name order), "
                             "an https URL (with --corpus-sha256) or a built-in name: shakespeare")
    parser.add_argument("--corpus-sha256", default=None,
                        help="expected sha256 of a URL corpus (required) or of a local file (checked)")


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="inspect corpora and seed the download cache")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    inspect = data_sub.add_parser("inspect", help="load a corpus, build its vocabulary and dataset, show stats")
    add_corpus_arguments(inspect)
    inspect.add_argument("--config", default=None,
                         help="training config (YAML file or preset) for seq_len, batch_size, split")
    inspect.add_argument("--seq-len", type=int, default=None)
    inspect.add_argument("--batch-size", type=int, default=None)
    inspect.add_argument("--validation-fraction", type=float, default=None)
    inspect.add_argument("--sample-chars", type=int, default=250, help="how much text to show")
    inspect.set_defaults(handler=_data_inspect)

    seed = data_sub.add_parser("seed", help="copy a local copy of a built-in corpus into the cache")
    seed.add_argument("file", help="e.g. ../shared/data/tinyshakespeare.txt")
    seed.set_defaults(handler=_data_seed)

    _register_train(subparsers)
    _register_export(subparsers)


TRAIN_OVERRIDES = ("epochs", "steps_per_epoch", "validation_steps", "batch_size", "seq_len",
                   "learning_rate", "seed", "early_stopping_patience", "reduce_lr_patience")


def _register_train(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train", help="train a model into a run directory (checkpoints every epoch, resumable)")
    add_corpus_arguments(train, required=False)
    train.add_argument("--config", default=None,
                       help="training config: a YAML file or a preset (tiny, tutorial-gru1024, "
                            "harry-potter-gru, chollet-lstm128); on --resume defaults to the run's")
    train.add_argument("--out", required=True, help="run directory, e.g. runs/NAME")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its latest checkpoint")
    train.add_argument("--replicas", type=int, default=None,
                       help="CPU only: split the CPU into N logical devices (MirroredStrategy "
                            "replicas); with GPUs, all visible GPUs are used")
    train.add_argument("--threads", type=int, default=None, help="TensorFlow intra/inter-op threads")
    for name in TRAIN_OVERRIDES:
        kind = float if name == "learning_rate" else int
        train.add_argument("--" + name.replace("_", "-"), type=kind, default=None,
                           help=f"override the config's {name}")
    train.set_defaults(handler=_train)


def _register_export(subparsers: argparse._SubParsersAction) -> None:
    export = subparsers.add_parser(
        "export", help="export a run's best checkpoint as the next SavedModel version for TF Serving")
    source = export.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="run directory (its best/ checkpoint is exported)")
    source.add_argument("--checkpoint", help="a checkpoint directory, e.g. runs/NAME/checkpoints/epoch-0003")
    export.add_argument("--model-base-path", required=True,
                        help="TF Serving model base path; the model is written to <path>/<N+1>/")
    export.set_defaults(handler=_export)

    from trainer.tuning.command import register_tune

    register_tune(subparsers)


def _overrides(args: argparse.Namespace, names: tuple[str, ...]) -> dict:
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def _data_seed(args: argparse.Namespace) -> int:
    from trainer.corpus import cache_dir, seed_cache

    builtin = seed_cache(args.file)
    print(f"seeded built-in corpus {builtin.name!r} into {cache_dir()}")
    return 0


def _data_inspect(args: argparse.Namespace) -> int:
    from trainer.config import load_config
    from trainer.corpus import load_corpus
    from trainer.inspection import inspect_corpus

    config = load_config(args.config, _overrides(args, ("seq_len", "batch_size", "validation_fraction")))
    corpus = load_corpus(args.corpus, args.corpus_sha256)
    report = inspect_corpus(corpus, config)
    print(report.render(sample_chars=args.sample_chars))
    return 0


def _train(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from trainer.config import load_config
    from trainer.corpus import load_corpus
    from trainer.errors import ConfigError, RunError

    out = Path(args.out)
    overrides = _overrides(args, TRAIN_OVERRIDES)
    corpus_spec = args.corpus
    if args.resume:
        from trainer.checkpoints import read_run

        run = read_run(out)
        base = args.config or None
        config = load_config(base, overrides) if base else load_config(None, {**run.get("config", {}), **overrides})
        corpus_spec = corpus_spec or (run.get("corpus") or {}).get("source")
    else:
        config = load_config(args.config, overrides)
    if not corpus_spec:
        raise ConfigError("--corpus is required (or --resume a run that recorded its corpus)")
    if not args.resume and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunError(f"run directory {out} is not empty; pass --resume to continue it or choose a new --out")
    if args.replicas is not None and args.replicas >= 1 and config.batch_size % args.replicas:
        raise ConfigError(f"batch_size {config.batch_size} (global) is not divisible by the "
                          f"{args.replicas} replicas; use a multiple of {args.replicas}")
    corpus = load_corpus(corpus_spec, args.corpus_sha256)

    from trainer.devices import configure_strategy
    from trainer.training import train

    strategy = configure_strategy(args.replicas, args.threads)
    result = train(config, corpus, out, strategy=strategy, resume_from=out if args.resume else None,
                   verbose=1 if sys.stdout.isatty() else 2)
    best = min((h for h in result.history if "val_loss" in h), key=lambda h: h["val_loss"], default=None)
    best_text = f"best val_bpc {best['val_bpc']:.3f} at epoch {best['epoch']}" if best else "no validation yet"
    print(f"trained {out}: {result.epochs_completed}/{config.epochs} epochs"
          f"{' (stopped early)' if result.stopped_early else ''}, {best_text}, "
          f"{strategy.num_replicas_in_sync} replica(s); best checkpoint {result.best_checkpoint_dir}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from trainer.checkpoints import read_checkpoint, resolve_checkpoint

    # A missing or damaged run fails here, before TensorFlow is imported.
    checkpoint = resolve_checkpoint(args.run or args.checkpoint, prefer="best")
    read_checkpoint(checkpoint)

    from trainer.export import export_checkpoint

    path = export_checkpoint(checkpoint, args.model_base_path)
    print(f"exported {path}")
    return 0
