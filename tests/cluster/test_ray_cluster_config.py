"""The cluster launcher config is checked against Ray's own schema, offline."""

import json
from importlib.metadata import version
from pathlib import Path

import jsonschema
import ray
import yaml

CONFIG = Path(__file__).resolve().parents[2] / "cluster" / "ray-cluster.yaml"


def test_launcher_config_matches_ray_schema():
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    jsonschema.validate(config, schema)
    assert config["head_node_type"] in config["available_node_types"]
    assert any(t.get("resources", {}).get("GPU") for t in config["available_node_types"].values())


def test_ray_image_matches_installed_ray():
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert config["docker"]["image"].split(":")[1].startswith(version("ray") + "-")
