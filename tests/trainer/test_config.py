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
