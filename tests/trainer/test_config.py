import pytest

from trainer.config import TrainingConfig, load_config, preset_names
from trainer.errors import ConfigError


def test_defaults_valid():
    assert TrainingConfig().cell == "gru"


def test_units_broadcast_per_layer():
    c = TrainingConfig.from_mapping({"num_layers": 3, "units": 64})
    assert c.units == (64, 64, 64)


@pytest.mark.parametrize(
    "values,message",
    [
        ({"cell": "transformer"}, "cell must be one of gru, lstm"),
        ({"units": 0}, "units must be > 0"),
        ({"units": [-5]}, "units must be > 0"),
        ({"num_layers": 2, "units": [8, 8, 8]}, "one value or one per layer"),
        ({"num_layers": 5}, "num_layers must be between 1 and 4"),
        ({"dropout": 1.5}, "dropout must be in"),
        ({"learning_rate": 0}, "learning_rate must be > 0"),
        ({"optimizer": "sgd"}, "optimizer must be one of"),
        ({"seq_len": "long"}, "'seq_len': cannot use 'long'"),
        ({"batch_size": 2.5}, "'batch_size'"),
        ({"colour": "blue"}, "unknown config key"),
        ({"jit_compile": "yes"}, "'jit_compile': cannot use 'yes' .expected true or false"),
        ({"jit_compile": 1}, "'jit_compile'"),
    ],
)
def test_bad_values(values, message):
    with pytest.raises(ConfigError, match=message):
        TrainingConfig.from_mapping(values)


def test_a_switch_takes_booleans_or_their_names():
    assert TrainingConfig.from_mapping({"jit_compile": "False"}).jit_compile is False
    assert TrainingConfig.from_mapping({"jit_compile": True}).jit_compile is True


def test_seed_models_expressible():
    assert {"tutorial-gru1024", "harry-potter-gru", "chollet-lstm128", "tiny"} <= set(
        preset_names()
    )
    tf_tutorial = load_config("tutorial-gru1024")
    assert (tf_tutorial.cell, tf_tutorial.units, tf_tutorial.embedding_dim) == ("gru", (1024,), 256)
    hp = load_config("harry-potter-gru")
    assert (hp.cell, hp.units, hp.embedding_dim) == ("gru", (512, 256), 300)
    chollet = load_config("chollet-lstm128")
    assert (chollet.cell, chollet.units) == ("lstm", (128,))


def test_yaml_file_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("cell: LSTM\nunits: [32, 16]\nnum_layers: 2\n", encoding="utf-8")
    c = load_config(str(path), {"epochs": 2})
    assert (c.cell, c.units, c.epochs) == ("lstm", (32, 16), 2)


def test_bad_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("cell: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(path))
    path.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(str(path))
    with pytest.raises(ConfigError, match="neither a file nor a preset"):
        load_config("no-such-config")


@pytest.mark.parametrize(
    "values, message",
    [
        ({"num_layers": 99999999999999999999}, "num_layers must be between 1 and 4"),
        ({"units": 1_000_000_000}, "units must be at most 16384, got 1000000000"),
        ({"seed": -1}, "seed must be in [0, 4294967295], got -1"),
        ({"seed": 4294967296}, "seed must be in [0, 4294967295], got 4294967296"),
        ({"epochs": 10**300}, "epochs must be at most 1000000, got an integer of 997 bits"),
        ({"batch_size": 2**40}, "batch_size must be at most 1048576"),
        ({"epochs": "9" * 5000}, "config key 'epochs': cannot use '999"),
        ({1: 2, "surprise": 3}, "unknown config key(s): surprise, 1 (known"),
    ],
)
def test_every_number_has_a_range_and_messages_stay_short(values, message):
    with pytest.raises(ConfigError) as caught:
        TrainingConfig.from_mapping(values)
    assert message in str(caught.value)
    assert len(str(caught.value)) < 1000


def test_a_yaml_alias_bomb_is_refused_without_expanding_it(tmp_path):
    import resource

    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    lines.append("units: *i")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ConfigError, match="more than 64 aliases"):
        load_config(bomb)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB


def test_a_config_file_is_size_checked_before_it_is_read(tmp_path):
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as f:
        f.truncate(2 * 1024**3)  # sparse: 2 GiB that take no disk
    with pytest.raises(ConfigError, match="more than the 1048576 a config may be"):
        load_config(huge)
