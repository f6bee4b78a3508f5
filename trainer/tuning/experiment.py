"""`charloom tune`: a Ray Tune experiment over the search space, ending with the best model exported.

The driver validates everything first (corpus, space, options), then runs the Tuner on an
embedded local Ray or a cluster (``address``), writes the ranked table and the learning-curve
PNG into the experiment directory, and exports the best trial's best checkpoint.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from trainer.config import TrainingConfig
from trainer.corpus import load_corpus
from trainer.errors import ConfigError, TrainerError
from trainer.tuning.report import METRIC, TrialSummary, plot_curves, render_table, summarize
from trainer.tuning.space import SearchSpace, load_space

logger = logging.getLogger(__name__)

OPTIONS_FILE = "charloom-tune.json"
TABLE_FILE = "results.md"
CURVES_FILE = "learning_curves.png"
SCHEDULERS = ("asha", "pbt", "fifo")
SEARCH_ALGS = ("random", "optuna")


@dataclasses.dataclass(frozen=True)
class TuneOptions:
    corpus: str
    corpus_sha256: str | None = None
    space: str | None = None
    num_samples: int = 4
    max_concurrent: int | None = None
    scheduler: str = "asha"
    search_alg: str = "random"
    grace_period: int = 1
    reduction_factor: int = 2
    max_epochs: int | None = None
    gpus_per_trial: float = 0.0
    cpus_per_trial: float = 1.0
    replicas: int | None = None
    time_budget_s: float | None = None
    storage_path: str = "ray_results"
    name: str | None = None
    address: str | None = None
    model_base_path: str | None = "models/charloom"
    max_failures: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.num_samples < 1:
            problems.append(f"--num-samples must be >= 1, got {self.num_samples}")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            problems.append(f"--max-concurrent must be >= 1, got {self.max_concurrent}")
        if self.scheduler not in SCHEDULERS:
            problems.append(f"--scheduler must be one of {', '.join(SCHEDULERS)}, got {self.scheduler!r}")
        if self.search_alg not in SEARCH_ALGS:
            problems.append(f"--search-alg must be one of {', '.join(SEARCH_ALGS)}, got {self.search_alg!r}")
        if self.grace_period < 1:
            problems.append(f"--grace-period must be >= 1, got {self.grace_period}")
        if self.reduction_factor < 2:
            problems.append(f"--reduction-factor must be >= 2, got {self.reduction_factor}")
        if self.max_epochs is not None and self.max_epochs < 1:
            problems.append(f"--max-epochs must be >= 1, got {self.max_epochs}")
        if self.gpus_per_trial < 0 or self.cpus_per_trial <= 0:
            problems.append("--gpus-per-trial must be >= 0 and --cpus-per-trial > 0")
        if self.replicas is not None and self.replicas < 1:
            problems.append(f"--replicas must be >= 1, got {self.replicas}")
        if self.replicas and self.replicas > 1 and self.gpus_per_trial:
            problems.append("--replicas splits a CPU into logical devices; with --gpus-per-trial each "
                            "trial mirrors over its GPUs instead")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            problems.append(f"--time-budget-s must be > 0, got {self.time_budget_s}")
        if self.max_failures < 0:
            problems.append(f"--max-failures must be >= 0, got {self.max_failures}")
        if problems:
            raise ConfigError("; ".join(problems))


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


def _init_ray(address: str | None) -> None:
    import ray

    if ray.is_initialized():
        return
    try:
        if address or os.environ.get("RAY_ADDRESS"):  # a cluster, e.g. inside `ray job submit`
            ray.init(address=address, log_to_driver=True)
        else:
            ray.init(include_dashboard=False, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise TrainerError(f"cannot start or join Ray (address={address or 'local'}): "
                           f"{str(exc).splitlines()[0]}") from None


def _scheduler(options: TuneOptions, space: SearchSpace, max_epochs: int):
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining

    if options.scheduler == "asha":
        return ASHAScheduler(time_attr="epoch", max_t=max_epochs, grace_period=min(options.grace_period, max_epochs),
                             reduction_factor=options.reduction_factor)
    if options.scheduler == "pbt":
        # Only hyperparameters that a checkpoint can carry over are perturbed; architecture stays.
        mutations = {d.key: space.to_param_space()[d.key] for d in space.dimensions
                     if d.key in ("learning_rate", "dropout") and d.kind != "grid"}
        if not mutations:
            mutations = {"learning_rate": tune.loguniform(1e-4, 1e-2)}
        return PopulationBasedTraining(time_attr="epoch", perturbation_interval=options.grace_period,
                                       hyperparam_mutations=mutations)
    return None


def _search_alg(options: TuneOptions):
    if options.search_alg == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        try:
            import optuna  # noqa: F401
        except ImportError:
            raise TrainerError("--search-alg optuna needs the optuna package") from None
        return OptunaSearch(seed=options.seed)
    from ray.tune.search import BasicVariantGenerator

    # The variant generator limits concurrency itself (Tune ignores max_concurrent_trials for it).
    return BasicVariantGenerator(random_state=options.seed, max_concurrent=options.max_concurrent or 0)


def _checkpoint_config(options: TuneOptions):
    from ray import tune

    if options.scheduler == "pbt":
        # PBT clones a trial from another's *latest* checkpoint: keep recent ones, not the best two.
        return tune.CheckpointConfig(num_to_keep=4)
    return tune.CheckpointConfig(num_to_keep=2, checkpoint_score_attribute=METRIC, checkpoint_score_order="min")


def _trainable(options: TuneOptions, corpus):
    from ray import tune

    from trainer.tuning.trainable import train_trial

    threads = max(1, int(options.cpus_per_trial))
    resources = {"cpu": options.cpus_per_trial, "gpu": options.gpus_per_trial}
    return tune.with_resources(
        tune.with_parameters(train_trial, corpus=corpus, replicas=options.replicas, threads=threads),
        resources)


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
    from trainer.export import export_checkpoint

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
        with checkpoint.as_directory() as directory:
            version = export_checkpoint(Path(directory), Path(options.model_base_path), extra_metadata={
                "trial_id": summaries[0].trial_id, "val_bpc": best_bpc,
                "experiment": results.experiment_path, "checkpoint": checkpoint.path})
    return TuneOutcome(experiment_path=results.experiment_path, summaries=summaries, table=table,
                       curves_path=curves, exported_version=version, best_trial_id=summaries[0].trial_id,
                       best_val_bpc=best_bpc)


def run_tuning(options: TuneOptions) -> TuneOutcome:
    """Validate, run a new experiment, report and export."""
    from ray import tune

    space = load_space(options.space)
    corpus = load_corpus(options.corpus, options.corpus_sha256)
    param_space = _param_space(options, space)
    max_epochs = _max_epochs(options, space)
    name = options.name or time.strftime("charloom-tune-%Y%m%d-%H%M%S")
    storage = _storage_path(options.storage_path)
    _init_ray(options.address)
    tuner = tune.Tuner(
        _trainable(options, corpus),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=METRIC, mode="min", num_samples=options.num_samples,
            max_concurrent_trials=options.max_concurrent if options.search_alg != "random" else None,
            scheduler=_scheduler(options, space, max_epochs),
            search_alg=_search_alg(options), time_budget_s=options.time_budget_s),
        run_config=tune.RunConfig(
            name=name, storage_path=storage, verbose=1,
            failure_config=tune.FailureConfig(max_failures=options.max_failures),
            checkpoint_config=_checkpoint_config(options)))
    _save_options(storage, name, options)
    return _finish(tuner.fit(), options, space)


def _save_options(storage: str, name: str, options: TuneOptions) -> None:
    import pyarrow.fs

    filesystem, root = pyarrow.fs.FileSystem.from_uri(storage)
    directory = f"{root.rstrip('/')}/{name}"
    filesystem.create_dir(directory, recursive=True)
    with filesystem.open_output_stream(f"{directory}/{OPTIONS_FILE}") as stream:
        stream.write(json.dumps(dataclasses.asdict(options), indent=1).encode("utf-8"))


def resume_tuning(experiment_path: str, address: str | None = None) -> TuneOutcome:
    """Restore an interrupted experiment (driver killed, cluster lost) and finish it."""
    import pyarrow.fs
    from ray import tune

    path = _storage_path(experiment_path)
    filesystem, root = pyarrow.fs.FileSystem.from_uri(path)
    try:
        with filesystem.open_input_stream(f"{root.rstrip('/')}/{OPTIONS_FILE}") as stream:
            saved = json.load(io.BytesIO(stream.read()))
    except (FileNotFoundError, OSError):
        raise TrainerError(f"{experiment_path} is not a charloom tune experiment (no {OPTIONS_FILE})") from None
    options = TuneOptions(**{**saved, **({"address": address} if address else {})})
    if not tune.Tuner.can_restore(path):
        raise TrainerError(f"{experiment_path} has no restorable Ray Tune experiment state")
    space = load_space(options.space)
    corpus = load_corpus(options.corpus, options.corpus_sha256)
    _init_ray(options.address)
    tuner = tune.Tuner.restore(path, trainable=_trainable(options, corpus), resume_errored=True)
    return _finish(tuner.fit(), options, space)
