"""How trials are scheduled, searched, kept and resourced: the parts the Tuner is built from."""

from __future__ import annotations

from trainer.errors import TrainerError
from trainer.tuning.options import TuneOptions
from trainer.tuning.report import METRIC
from trainer.tuning.space import SearchSpace


def scheduler(options: TuneOptions, space: SearchSpace, max_epochs: int):
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining

    if options.scheduler == "asha":
        return ASHAScheduler(
            time_attr="epoch",
            max_t=max_epochs,
            grace_period=min(options.grace_period, max_epochs),
            reduction_factor=options.reduction_factor,
        )
    if options.scheduler == "pbt":
        # Only hyperparameters that a checkpoint can carry over are perturbed; architecture stays.
        mutations = {
            d.key: space.to_param_space()[d.key]
            for d in space.dimensions
            if d.key in ("learning_rate", "dropout") and d.kind != "grid"
        }
        if not mutations:
            mutations = {"learning_rate": tune.loguniform(1e-4, 1e-2)}
        return PopulationBasedTraining(
            time_attr="epoch",
            perturbation_interval=options.grace_period,
            hyperparam_mutations=mutations,
        )
    return None


def search_alg(options: TuneOptions):
    if options.search_alg == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        try:
            import optuna  # noqa: F401
        except ImportError:
            raise TrainerError("--search-alg optuna needs the optuna package") from None
        return OptunaSearch(seed=options.seed)
    from ray.tune.search import BasicVariantGenerator

    # The variant generator limits concurrency itself (Tune ignores max_concurrent_trials for it).
    return BasicVariantGenerator(
        random_state=options.seed, max_concurrent=options.max_concurrent or 0
    )


def checkpoint_config(options: TuneOptions):
    from ray import tune

    if options.scheduler == "pbt":
        # PBT clones a trial from another's *latest* checkpoint: keep recent ones, not the best two.
        return tune.CheckpointConfig(num_to_keep=4)
    return tune.CheckpointConfig(
        num_to_keep=2, checkpoint_score_attribute=METRIC, checkpoint_score_order="min"
    )


def trainable(options: TuneOptions, corpus):
    from ray import tune

    from trainer.tuning.trainable import train_trial

    threads = max(1, int(options.cpus_per_trial))
    resources = {"cpu": options.cpus_per_trial, "gpu": options.gpus_per_trial}
    return tune.with_resources(
        tune.with_parameters(
            train_trial, corpus=corpus, replicas=options.replicas, threads=threads
        ),
        resources,
    )
