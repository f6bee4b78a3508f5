"""serving/defaults.py is the one source of names, ports, paths and batching parameters.

The committed kustomize inputs must equal what k8s/generate.py renders from it, and the config
files the ConfigMap ships must be accepted by the local server's own parsers, byte for byte the
same files.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from serving import defaults
from serving.server.batching_parameters import read_batching_parameters_file
from serving.server.config import ServerConfig, read_model_config_file

K8S_DIR = Path(__file__).resolve().parents[2] / "k8s"
CONFIG_DIR = K8S_DIR / "base" / "serving" / "config"


def test_committed_files_match_the_generator(generator: ModuleType, tmp_path: Path) -> None:
    generator.write(tmp_path)
    expected = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert expected, "the generator wrote nothing"
    stale = [
        str(rel)
        for rel in expected
        if not (K8S_DIR / rel).is_file()
        or (K8S_DIR / rel).read_bytes() != (tmp_path / rel).read_bytes()
    ]
    assert not stale, f"stale generated files {stale}: run .venv/bin/python k8s/generate.py"


def test_check_mode_reports_a_hand_edit(generator: ModuleType, tmp_path: Path) -> None:
    generator.write(tmp_path)
    assert generator.main(["--out", str(tmp_path), "--check"]) == 0
    edited = tmp_path / "base" / "serving" / "config" / "batching.config"
    edited.write_text(edited.read_text().replace(str(defaults.MAX_BATCH_SIZE), "7"))
    assert generator.main(["--out", str(tmp_path), "--check"]) == 1


def test_local_server_accepts_the_shipped_model_config() -> None:
    models = read_model_config_file(CONFIG_DIR / "models.config")
    assert [m.name for m in models] == [defaults.MODEL_NAME]
    assert str(models[0].base_path) == defaults.MODEL_BASE_PATH_IN_CONTAINER
    assert models[0].version_policy.kind == "latest" and models[0].version_policy.num_versions == 1
    ServerConfig(models=models)  # the local server's whole-config validation


def test_local_server_accepts_the_bucket_overlay_model_config(generator: ModuleType) -> None:
    models = read_model_config_file(K8S_DIR / "overlays" / "bucket" / "models.config")
    assert [m.name for m in models] == [defaults.MODEL_NAME]
    assert generator.BUCKET_MODEL_BASE_PATH.startswith("gs://")


def test_local_server_accepts_the_shipped_batching_parameters() -> None:
    assert read_batching_parameters_file(CONFIG_DIR / "batching.config") == {
        "max_batch_size": defaults.MAX_BATCH_SIZE,
        "batch_timeout_micros": defaults.BATCH_TIMEOUT_MICROS,
        "max_enqueued_batches": defaults.MAX_ENQUEUED_BATCHES,
        "num_batch_threads": defaults.NUM_BATCH_THREADS,
    }


def _monitoring_config_class() -> type:
    """tensorflow.serving.MonitoringConfig (monitoring_config.proto), not in the pip package.

    Declared by hand from the proto: PrometheusConfig{bool enable = 1; string path = 2;},
    MonitoringConfig{PrometheusConfig prometheus_config = 1;}. Text-format parsing against it
    rejects any field TF Serving would reject.
    """
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="charloom_test/monitoring_config.proto", package="tensorflow.serving", syntax="proto3"
    )
    prometheus = file_proto.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, label=1, type=8)  # bool
    prometheus.field.add(name="path", number=2, label=1, type=9)  # string
    monitoring = file_proto.message_type.add(name="MonitoringConfig")
    monitoring.field.add(
        name="prometheus_config",
        number=1,
        label=1,
        type=11,
        type_name=".tensorflow.serving.PrometheusConfig",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig")
    )


def test_monitoring_config_is_a_valid_prometheus_config() -> None:
    config = text_format.Parse(
        (CONFIG_DIR / "monitoring.config").read_text(), _monitoring_config_class()()
    )
    assert config.prometheus_config.enable is True
    assert config.prometheus_config.path == defaults.MONITORING_PATH


def test_monitoring_schema_rejects_unknown_fields() -> None:
    with pytest.raises(text_format.ParseError):
        text_format.Parse("prometheus_config { enabled: true }", _monitoring_config_class()())


@pytest.mark.parametrize("overlay", ["cpu", "gpu", "bucket"])
def test_configmap_ships_the_committed_files(
    overlay: str, rendered: dict[str, list[dict[str, Any]]], find: Callable[..., dict[str, Any]]
) -> None:
    """The ConfigMap carries exactly the files the local server was tested with above."""
    data = find(rendered[overlay], "ConfigMap")["data"]
    models_source = K8S_DIR / "overlays" / "bucket" if overlay == "bucket" else CONFIG_DIR
    assert data["models.config"] == (models_source / "models.config").read_text()
    assert data["batching.config"] == (CONFIG_DIR / "batching.config").read_text()
    assert data["monitoring.config"] == (CONFIG_DIR / "monitoring.config").read_text()


def test_configmap_models_config_loads_in_the_local_server(
    rendered: dict[str, list[dict[str, Any]]], find: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    """Write the rendered ConfigMap out the way Kubernetes mounts it; serve-side parse it."""
    for key, value in find(rendered["cpu"], "ConfigMap")["data"].items():
        (tmp_path / key).write_text(value)
    models = read_model_config_file(tmp_path / "models.config")
    assert models[0].name == defaults.MODEL_NAME
    assert (
        read_batching_parameters_file(tmp_path / "batching.config")["max_batch_size"]
        == defaults.MAX_BATCH_SIZE
    )


def test_generator_runs_as_a_script(tmp_path: Path) -> None:
    """The documented command works from a plain checkout (no reliance on test imports)."""
    shutil.copytree(K8S_DIR, tmp_path / "k8s")
    proc = subprocess.run(
        [sys.executable, str(K8S_DIR / "generate.py"), "--out", str(tmp_path / "k8s"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
