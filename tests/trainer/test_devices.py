import pytest
import tensorflow as tf

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


class FakeGpus:
    """Stands in for TensorFlow's GPU listing and memory-growth switches on this GPU-less machine."""

    def __init__(self, monkeypatch, count: int, too_late: bool = False):
        self.devices = [
            tf.config.PhysicalDevice(f"/physical_device:GPU:{i}", "GPU") for i in range(count)
        ]
        self.growth: dict[str, bool] = {}
        self.too_late = too_late
        real_list = tf.config.list_physical_devices
        monkeypatch.setattr(
            tf.config,
            "list_physical_devices",
            lambda kind=None: self.devices if kind == "GPU" else real_list(kind),
        )
        monkeypatch.setattr(
            tf.config.experimental,
            "get_memory_growth",
            lambda device: self.growth.get(device.name, False),
        )
        monkeypatch.setattr(tf.config.experimental, "set_memory_growth", self.set_growth)

    def set_growth(self, device, enable: bool) -> None:
        if self.too_late:
            raise RuntimeError("Physical devices cannot be modified after being initialized")
        self.growth[device.name] = enable


def test_a_trial_on_a_gpu_takes_memory_as_it_needs_it(monkeypatch):
    """Two trials sharing a GPU (--gpus-per-trial 0.5) must not each map all of its memory."""
    gpus = FakeGpus(monkeypatch, count=1)
    strategy = configure_strategy()
    assert gpus.growth == {"/physical_device:GPU:0": True}
    assert strategy.num_replicas_in_sync == 1


def test_memory_growth_too_late_is_a_clear_error(monkeypatch):
    FakeGpus(monkeypatch, count=1, too_late=True)
    with pytest.raises(
        ConfigError, match="memory growth on /physical_device:GPU:0.*already initialised"
    ):
        configure_strategy()


def test_replicas_must_match_the_visible_gpus(monkeypatch):
    gpus = FakeGpus(monkeypatch, count=2)
    with pytest.raises(ConfigError, match="--replicas 3 does not match the 2 visible GPU"):
        configure_strategy(replicas=3)
    assert gpus.growth == {}, "nothing is changed before the request is validated"
