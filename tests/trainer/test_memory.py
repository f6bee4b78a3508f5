"""The trainer's memory check: an exact parameter count, and a model that cannot fit refused
before TensorFlow allocates it."""

from __future__ import annotations

import pytest

from trainer.config import TrainingConfig
from trainer.errors import ConfigError
from trainer.memory import check_fits_in_memory, parameter_count, physical_memory_bytes


@pytest.mark.parametrize(
    "config",
    [
        TrainingConfig(units=(16,), embedding_dim=8),
        TrainingConfig(cell="lstm", num_layers=2, units=(12, 20), embedding_dim=8),
    ],
    ids=["gru", "lstm-2"],
)
def test_the_parameter_count_is_keras_own(config):
    from trainer.model import build_model

    assert parameter_count(config, 30) == build_model(config, 30).count_params()


def test_a_model_too_large_for_this_machine_is_refused_by_name():
    config = TrainingConfig(num_layers=4, units=(16_384,) * 4)
    with pytest.raises(ConfigError, match="does not fit in memory") as caught:
        check_fits_in_memory(config, 65)
    assert f"{physical_memory_bytes() / 2**30:.1f} GiB" in str(caught.value)


def test_a_small_model_fits():
    check_fits_in_memory(TrainingConfig(units=(256,)), 65)
