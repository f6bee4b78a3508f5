"""`charloom tune`: flags -> TuneOptions (validated here, at the edge) -> experiment -> summary."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    from trainer.tuning.options import SCHEDULERS, SEARCH_ALGS, TuneOptions
    from trainer.tuning.space import DEFAULT_SPACE, bundled_spaces

    default = {f.name: f.default for f in dataclasses.fields(TuneOptions)}
    p = subparsers.add_parser(
        "tune", help="search architectures and hyperparameters with Ray Tune, export the best model"
    )
    p.add_argument(
        "--corpus", help="as for `charloom train` (default: shakespeare)", default="shakespeare"
    )
    p.add_argument("--corpus-sha256", default=None)
    p.add_argument(
        "--space",
        default=None,
        help="search space YAML/JSON file or bundled name: "
        + ", ".join(bundled_spaces())
        + f" (default {DEFAULT_SPACE})",
    )
    p.add_argument(
        "--num-samples",
        type=int,
        default=default["num_samples"],
        help="trials to sample (per grid point)",
    )
    p.add_argument("--max-concurrent", type=int, default=None, help="trials running at once")
    p.add_argument(
        "--scheduler", default=default["scheduler"], choices=SCHEDULERS, help="trial scheduler"
    )
    p.add_argument(
        "--grace-period",
        type=int,
        default=default["grace_period"],
        help="ASHA: epochs before a trial can be stopped; PBT: epochs between perturbations",
    )
    p.add_argument(
        "--reduction-factor",
        type=int,
        default=default["reduction_factor"],
        help="ASHA's halving rate",
    )
    p.add_argument(
        "--max-epochs", type=int, default=None, help="epochs per trial (overrides the space)"
    )
    p.add_argument(
        "--search-alg", default=default["search_alg"], choices=SEARCH_ALGS, help="search algorithm"
    )
    p.add_argument("--gpus-per-trial", type=float, default=default["gpus_per_trial"])
    p.add_argument("--cpus-per-trial", type=float, default=default["cpus_per_trial"])
    p.add_argument(
        "--replicas",
        type=int,
        default=None,
        help="CPU only: logical devices per trial, to run the multi-replica path without GPUs",
    )
    p.add_argument(
        "--time-budget-s",
        type=float,
        default=None,
        help="stop starting/continuing trials after this",
    )
    p.add_argument(
        "--storage-path",
        default=default["storage_path"],
        help="local directory or s3:// / gs:// URI",
    )
    p.add_argument("--name", default=None, help="experiment name (default: charloom-tune-<time>)")
    p.add_argument(
        "--address",
        default=None,
        help="join a Ray cluster: auto or ray://host:10001 (default: start Ray in this process)",
    )
    p.add_argument(
        "--model-base-path",
        default=default["model_base_path"],
        help="export the best model as the next version here ('' to skip)",
    )
    p.add_argument(
        "--max-failures",
        type=int,
        default=default["max_failures"],
        help="restarts of a crashed trial from its checkpoint",
    )
    p.add_argument("--seed", type=int, default=default["seed"])
    p.add_argument(
        "--mlflow-tracking-uri",
        default=None,
        metavar="URI",
        help="also log every trial to MLflow (e.g. sqlite:///mlflow.db, http://host:5000); "
        "needs pip install 'charloom[mlflow]'",
    )
    p.add_argument(
        "--resume",
        metavar="EXPERIMENT_PATH",
        default=None,
        help="restore an interrupted experiment (its directory under --storage-path) and finish it",
    )
    p.set_defaults(handler=_tune)


def _absolute(value: str | None) -> str | None:
    """Paths are stored with the experiment for --resume, so make them independent of the cwd."""
    if not value or "://" in value or not os.path.exists(value):
        return value
    return str(Path(value).resolve())


def _resolved(path: str) -> str:
    """A local output path made absolute (it may not exist yet); URIs and '' stay as they are."""
    return path if not path or "://" in path else str(Path(path).resolve())


def _tune(args: argparse.Namespace) -> int:
    from charloom.console import ProgressPrinter, quiet_environment
    from trainer.tuning.experiment import Display, resume_tuning, run_tuning
    from trainer.tuning.options import TuneOptions

    verbose = bool(getattr(args, "verbose", False))
    printer = ProgressPrinter()
    display = Display(report=printer, verbose=verbose, worker_env=quiet_environment(verbose))
    if args.resume:
        print(f"resuming {args.resume}", flush=True)
        outcome = resume_tuning(args.resume, address=args.address, display=display)
    else:
        options = TuneOptions(
            corpus=_absolute(args.corpus),
            corpus_sha256=args.corpus_sha256,
            space=_absolute(args.space),
            num_samples=args.num_samples,
            max_concurrent=args.max_concurrent,
            scheduler=args.scheduler,
            search_alg=args.search_alg,
            grace_period=args.grace_period,
            reduction_factor=args.reduction_factor,
            max_epochs=args.max_epochs,
            gpus_per_trial=args.gpus_per_trial,
            cpus_per_trial=args.cpus_per_trial,
            replicas=args.replicas,
            time_budget_s=args.time_budget_s,
            storage_path=args.storage_path,
            name=args.name,
            address=args.address,
            model_base_path=_resolved(args.model_base_path) or None,
            max_failures=args.max_failures,
            seed=args.seed,
            mlflow_tracking_uri=args.mlflow_tracking_uri,
        )
        budget = f", time budget {options.time_budget_s:g} s" if options.time_budget_s else ""
        print(
            f"tuning {options.num_samples} trial(s) on {options.corpus} (space {options.space or 'quick'}, "
            f"scheduler {options.scheduler}{budget})",
            flush=True,
        )
        outcome = run_tuning(options, display)
    printer.close()
    print()
    print(outcome.table)
    print(f"\nexperiment: {outcome.experiment_path}")
    print(f"learning curves: {outcome.curves_path}")
    print(f"best trial {outcome.best_trial_id}: val_bpc {outcome.best_val_bpc:.4f}")
    if outcome.exported_version:
        print(f"exported: {outcome.exported_version}")
    return 0
