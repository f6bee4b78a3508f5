"""`charloom tune`: a Ray Tune experiment over the search space, ending with the best model exported.

The driver validates everything first (corpus, space, options), then runs the Tuner on an
embedded local Ray or a cluster (``address``), writes the ranked table and the learning-curve
PNG into the experiment directory, and exports the best trial's best checkpoint.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any

from trainer.config import TrainingConfig
from trainer.corpus import load_corpus
from trainer.errors import TrainerError
from trainer.tuning import schedulers
from trainer.tuning.options import TuneOptions, load_options, save_options
from trainer.tuning.progress import Report, TuneProgress
from trainer.tuning.report import METRIC, TrialSummary, plot_curves, render_table, summarize
from trainer.tuning.space import SearchSpace, load_space
from trainer.tuning.tracking import mlflow_callback

logger = logging.getLogger(__name__)

TABLE_FILE = "results.md"
LOCAL_RAY = "local"  # ray.init's address for a new Ray instance in this process
CURVES_FILE = "learning_curves.png"


@dataclasses.dataclass(frozen=True)
class TuneOutcome:
    experiment_path: str
    summaries: list[TrialSummary]
    table: str
    curves_path: str
    exported_version: Path | None
    best_trial_id: str
    best_val_bpc: float


def _storage_path(path: str) -> str:
    return path if "://" in path else str(Path(path).expanduser().resolve())


@dataclasses.dataclass(frozen=True)
class Display:
    """How a run shows itself: progress lines (see trainer/tuning/progress.py), whether trial
    workers' own output reaches this console, and the environment the workers get."""

    report: Report | None = None
    verbose: bool = False
    worker_env: dict[str, str] = dataclasses.field(default_factory=dict)


def init_ray(address: str | None, display: Display) -> None:
    """Join the cluster at ``address`` (or ``$RAY_ADDRESS``), else start a Ray of this process."""
    import ray

    if ray.is_initialized():
        return
    settings: dict[str, Any] = dict(
        log_to_driver=display.verbose,
        logging_level=logging.INFO if display.verbose else logging.ERROR,
        runtime_env={"env_vars": dict(display.worker_env)} if display.worker_env else None,
    )
    try:
        if address or os.environ.get("RAY_ADDRESS"):  # a cluster, e.g. inside `ray job submit`
            ray.init(address=address, **settings)
        else:  # a Ray of its own, even beside a `ray start` cluster (ray.init() would join that)
            ray.init(address=LOCAL_RAY, include_dashboard=False, **settings)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise TrainerError(
            f"cannot start or join Ray (address={address or 'local'}): {str(exc).splitlines()[0]}"
        ) from None


def _param_space(options: TuneOptions, space: SearchSpace) -> dict[str, Any]:
    params = space.to_param_space()
    if options.max_epochs is not None:
        params["epochs"] = options.max_epochs
    return params


def _max_epochs(options: TuneOptions, space: SearchSpace) -> int:
    if options.max_epochs is not None:
        return options.max_epochs
    return space.max_epochs(TrainingConfig().epochs)


def _write(results, name: str, data: bytes) -> str:
    """Write next to Ray's experiment state, on whatever filesystem the storage path uses."""
    path = f"{results.experiment_path.rstrip('/')}/{name}"
    with results.filesystem.open_output_stream(path) as stream:
        stream.write(data)
    return path


def _finish(results, options: TuneOptions, space: SearchSpace) -> TuneOutcome:
    summaries = summarize(results, [d.key for d in space.dimensions], _max_epochs(options, space))
    table = render_table(summaries)
    _write(results, TABLE_FILE, (table + "\n").encode("utf-8"))
    buffer_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"charloom-curves-{os.getpid()}.png"
    plot_curves(summaries, buffer_path)
    curves = _write(results, CURVES_FILE, buffer_path.read_bytes())
    buffer_path.unlink(missing_ok=True)
    finished = [s for s in summaries if s.curve]
    if not finished:
        errors = "; ".join(s.error for s in summaries if s.error) or "no trial reported a result"
        raise TrainerError(f"every trial failed, nothing to export: {errors}")
    best = results.get_best_result(metric=METRIC, mode="min", scope="all")
    checkpoint = best.get_best_checkpoint(METRIC, "min")
    if checkpoint is None:
        raise TrainerError(f"best trial {best.path} kept no checkpoint")
    best_bpc = summaries[0].best_val_bpc
    version = None
    if options.model_base_path:
        from trainer.export import export_checkpoint  # TensorFlow: only when exporting

        with checkpoint.as_directory() as directory:
            version = export_checkpoint(
                Path(directory),
                Path(options.model_base_path),
                extra_metadata={
                    "trial_id": summaries[0].trial_id,
                    "val_bpc": best_bpc,
                    "experiment": results.experiment_path,
                    "checkpoint": checkpoint.path,
                },
            )
    return TuneOutcome(
        experiment_path=results.experiment_path,
        summaries=summaries,
        table=table,
        curves_path=curves,
        exported_version=version,
        best_trial_id=summaries[0].trial_id,
        best_val_bpc=best_bpc,
    )


def _callbacks(options: TuneOptions, space: SearchSpace, display: Display, name: str) -> list:
    callbacks = []
    if options.mlflow_tracking_uri:
        callbacks.append(mlflow_callback(options.mlflow_tracking_uri, name))
    if display.report is not None:
        callbacks.append(
            TuneProgress(
                options.num_samples,
                _max_epochs(options, space),
                options.time_budget_s,
                display.report,
            )
        )
    return callbacks


def run_tuning(options: TuneOptions, display: Display = Display()) -> TuneOutcome:
    """Validate, run a new experiment, report and export."""
    from ray import tune

    space = load_space(options.space)
    corpus = load_corpus(options.corpus, options.corpus_sha256)
    param_space = _param_space(options, space)
    max_epochs = _max_epochs(options, space)
    name = options.name or time.strftime("charloom-tune-%Y%m%d-%H%M%S")
    storage = _storage_path(options.storage_path)
    callbacks = _callbacks(options, space, display, name)
    init_ray(options.address, display)
    tuner = tune.Tuner(
        schedulers.trainable(options, corpus),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode="min",
            num_samples=options.num_samples,
            max_concurrent_trials=options.max_concurrent
            if options.search_alg != "random"
            else None,
            scheduler=schedulers.scheduler(options, space, max_epochs),
            search_alg=schedulers.search_alg(options),
            time_budget_s=options.time_budget_s,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage,
            verbose=1 if display.verbose and display.report is None else 0,
            callbacks=callbacks,
            failure_config=tune.FailureConfig(max_failures=options.max_failures),
            checkpoint_config=schedulers.checkpoint_config(options),
        ),
    )
    save_options(storage, name, options)
    return _finish(tuner.fit(), options, space)


def resume_tuning(
    experiment_path: str, address: str | None = None, display: Display = Display()
) -> TuneOutcome:
    """Restore an interrupted experiment (driver killed, cluster lost) and finish it."""
    path = _storage_path(experiment_path)
    options = load_options(experiment_path, path)

    from ray import tune

    if address:
        options = dataclasses.replace(options, address=address)
    if not tune.Tuner.can_restore(path):
        raise TrainerError(f"{experiment_path} has no restorable Ray Tune experiment state")
    space = load_space(options.space)
    corpus = load_corpus(options.corpus, options.corpus_sha256)
    init_ray(options.address, display)
    # Ray keeps the original run's config, callbacks included, and hands the progress callback the
    # counts it saved with the experiment (TuneProgress.get_state), so the progress line goes on.
    tuner = tune.Tuner.restore(
        path, trainable=schedulers.trainable(options, corpus), resume_errored=True
    )
    return _finish(tuner.fit(), options, space)
