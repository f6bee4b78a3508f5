import tensorflow as tf
import pytest

from trainer.devices import configure_strategy
from trainer.errors import ConfigError


def test_too_late_to_split_the_cpu_is_a_clear_error():
    tf.config.list_logical_devices()  # initialises the runtime with one CPU device
    strategy = configure_strategy()  # one replica needs no reconfiguration
    assert strategy.num_replicas_in_sync == 1
    with pytest.raises(ConfigError, match="already initialised"):
        configure_strategy(replicas=3)
    with pytest.raises(ConfigError, match="already initialised"):
        configure_strategy(threads=7)
    with pytest.raises(ConfigError, match="replicas must be >= 1"):
        configure_strategy(replicas=0)


def test_one_device_trains_under_the_default_strategy():
    """A one-device MirroredStrategy only adds cost (38 % on a GRU-1024): none is made."""
    strategy = configure_strategy(replicas=1)
    assert not isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy is tf.distribute.get_strategy()
