"""Experiment wiring without starting Ray: option validation, schedulers, search algorithms."""

import pytest

from trainer.errors import ConfigError
from trainer.tuning.options import TuneOptions
from trainer.tuning.schedulers import checkpoint_config, scheduler, search_alg
from trainer.tuning.space import parse_space

SPACE = parse_space(
    {
        "cell": {"choice": ["gru", "lstm"]},
        "units": {"choice": [16, 32]},
        "learning_rate": {"loguniform": [1e-4, 1e-2]},
        "dropout": {"uniform": [0.0, 0.3]},
        "epochs": 6,
    }
)


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"num_samples": 0}, "--num-samples"),
        ({"scheduler": "hyperband"}, "--scheduler must be one of asha, pbt, fifo"),
        ({"search_alg": "grid"}, "--search-alg must be one of random, optuna"),
        ({"reduction_factor": 1}, "--reduction-factor"),
        ({"replicas": 2, "gpus_per_trial": 1}, "--replicas splits a CPU"),
        ({"time_budget_s": 0}, "--time-budget-s"),
        ({"max_concurrent": 0}, "--max-concurrent"),
    ],
)
def test_bad_options(changes, message):
    with pytest.raises(ConfigError, match=message):
        TuneOptions(corpus="shakespeare", **changes)


def test_asha_uses_epochs_as_time():
    asha = scheduler(
        TuneOptions(corpus="x", grace_period=2, reduction_factor=3), SPACE, max_epochs=6
    )
    assert type(asha).__name__ == "AsyncHyperBandScheduler"
    assert asha._time_attr == "epoch" and asha._max_t == 6


def test_pbt_perturbs_only_what_a_checkpoint_can_carry():
    pbt = scheduler(TuneOptions(corpus="x", scheduler="pbt"), SPACE, max_epochs=6)
    assert set(pbt._hyperparam_mutations) == {"learning_rate", "dropout"}
    assert (
        checkpoint_config(TuneOptions(corpus="x", scheduler="pbt")).checkpoint_score_attribute
        is None
    )
    kept = checkpoint_config(TuneOptions(corpus="x"))
    assert (kept.num_to_keep, kept.checkpoint_score_attribute) == (2, "val_bpc")


def test_fifo_has_no_scheduler_and_search_algorithms():
    assert scheduler(TuneOptions(corpus="x", scheduler="fifo"), SPACE, max_epochs=6) is None
    assert type(search_alg(TuneOptions(corpus="x", search_alg="optuna"))).__name__ == "OptunaSearch"
    assert (
        type(search_alg(TuneOptions(corpus="x", max_concurrent=2))).__name__
        == "BasicVariantGenerator"
    )


def test_max_epochs_override_wins_over_the_space():
    from trainer.tuning.experiment import _max_epochs, _param_space

    assert _max_epochs(TuneOptions(corpus="x"), SPACE) == 6
    assert _max_epochs(TuneOptions(corpus="x", max_epochs=2), SPACE) == 2
    assert _param_space(TuneOptions(corpus="x", max_epochs=2), SPACE)["epochs"] == 2


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("num_samples", 10**20, "--num-samples must be at most 100000"),
        ("time_budget_s", float("inf"), "--time-budget-s must be at most 2592000, got inf"),
        ("time_budget_s", float("nan"), "--time-budget-s must be at most 2592000, got nan"),
        ("gpus_per_trial", 1e300, "--gpus-per-trial must be at most 1024"),
        ("max_failures", 10**20, "--max-failures must be at most 1000"),
        ("seed", -1, "--seed must be in [0, 4294967295], got -1"),
        ("seed", 2**32, "--seed must be in [0, 4294967295], got 4294967296"),
    ],
)
def test_every_number_has_an_upper_bound(field, value, message):
    with pytest.raises(ConfigError) as caught:
        TuneOptions(corpus="shakespeare", **{field: value})
    assert message in str(caught.value)
