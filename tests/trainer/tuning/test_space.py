import json

import pytest

from trainer.errors import ConfigError
from trainer.tuning.space import load_space, parse_space


def test_bundled_spaces_are_valid():
    searched = {
        "quick": {"units", "learning_rate"},  # the demo's: what matters most in 3 minutes
        "full": {
            "cell",
            "num_layers",
            "units",
            "embedding_dim",
            "dropout",
            "learning_rate",
            "batch_size",
            "seq_len",
            "optimizer",
        },
    }
    for name, keys in searched.items():
        space = load_space(name)
        assert keys <= {d.key for d in space.dimensions}
    assert load_space(None).source.endswith("quick.yaml")


def test_param_space_has_ray_domains():
    from ray.tune.search.sample import Categorical, Float

    space = parse_space(
        {
            "cell": {"choice": ["gru", "lstm"]},
            "learning_rate": {"loguniform": [1e-4, 1e-2]},
            "epochs": 2,
        }
    )
    param = space.to_param_space()
    assert isinstance(param["cell"], Categorical) and isinstance(param["learning_rate"], Float)
    assert param["epochs"] == 2
    assert space.max_epochs(10) == 2


def test_units_list_choice_sets_layers():
    parse_space({"units": {"choice": [[512, 256], 128]}})


@pytest.mark.parametrize(
    "data,message",
    [
        ({"colour": {"choice": [1]}}, "unknown key"),
        ({"cell": {"choice": []}}, "choice list is empty"),
        ({"cell": {"choice": ["gru", "transformer"]}}, "value 'transformer' is invalid"),
        ({"learning_rate": {"loguniform": [0.01, 0.001]}}, "is empty"),
        ({"learning_rate": {"loguniform": [0, 0.01]}}, "loguniform needs low > 0"),
        ({"dropout": {"uniform": [0.1]}}, r"needs \[low, high\]"),
        ({"dropout": {"uniform": [0.0, 1.5]}}, "dropout must be in"),
        ({"units": {"normal": [1, 2]}}, "expected one of"),
        ({"units": {"randint": [1.5, 8]}}, "integer bounds"),
        ({"epochs": -1, "cell": {"choice": ["gru"]}}, "epochs must be > 0"),
        ([], "non-empty mapping"),
    ],
)
def test_invalid_spaces(data, message):
    with pytest.raises(ConfigError, match=message):
        parse_space(data)


def test_files(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"units": {"choice": [16, 32]}}), encoding="utf-8")
    assert load_space(str(path)).dimensions[0].values == (16, 32)
    bad = tmp_path / "space.yaml"
    bad.write_text("units: {choice: [16, 32\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_space(str(bad))
    with pytest.raises(ConfigError, match="neither a file nor a bundled space"):
        load_space("nope")


def test_constants_only_is_a_single_configuration():
    space = parse_space({"units": 32, "epochs": 2})
    assert space.dimensions == () and space.to_param_space() == {"units": 32, "epochs": 2}


def test_max_epochs_from_constants_or_a_searched_dimension():
    assert parse_space({"epochs": 3}).max_epochs(10) == 3
    assert parse_space({"units": 8}).max_epochs(10) == 10
    assert parse_space({"epochs": {"grid": [2, 6]}}).max_epochs(10) == 6
    assert parse_space({"epochs": {"randint": [1, 4]}}).max_epochs(10) == 4
