"""`charloom serve` as a process over the trainer's real export, called with TF Serving stubs only."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import grpc
import pytest
from tensorflow_serving.apis import get_model_metadata_pb2, prediction_service_pb2_grpc

from serving import defaults
from tests.helpers.ports import free_port
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\n"


def cell_export(cell: str) -> Path:
    """The trainer's export of a two-layer model of ``cell``, made once per run
    (tests/helpers/export_cache.py)."""
    from tests.helpers.export_cache import seeded_export
    from trainer.config import TrainingConfig
    from trainer.model import build_model
    from trainer.vocabulary import Vocabulary

    vocabulary = Vocabulary.from_text(TEXT)
    config = TrainingConfig(cell=cell, num_layers=2, units=(16, 8), embedding_dim=8)
    _, exported = seeded_export(
        f"serve process {cell}", lambda: build_model(config, vocabulary.size), config, vocabulary
    )
    return exported


def export_version(base: Path, cell: str) -> Path:
    """``cell``'s export published as the next version under ``base``, by copy."""
    from tests.helpers.export_cache import deploy_copy

    return deploy_copy(cell_export(cell), base)


def docs_snippet() -> str:
    """The TF-Serving-stubs example of docs/serving.md, run as it is written."""
    docs = (REPO / "docs" / "serving.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- snippet:tf-serving-stubs -->\n```python\n(.*?)```", docs, re.S)
    assert match, "docs/serving.md lost the TF Serving stubs snippet"
    return match.group(1)


def metadata_version(port: int) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        request.model_spec.name = defaults.MODEL_NAME
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return stub.GetModelMetadata(request, timeout=10).model_spec.version.value


def test_charloom_serve_process_with_a_real_export(tmp_path, wait_for_health):
    base = tmp_path / "charloom"
    assert export_version(base, "gru").name == "1"
    port, monitoring = free_port(), free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "charloom",
            "serve",
            "--model-base-path",
            str(base),
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--rest-api-port",
            str(monitoring),
            "--enable-batching",
            "--file-system-poll-wait-seconds",
            "0.2",
            "--grace-seconds",
            "2",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    try:
        cell_export("lstm")  # version 2's export, made while the server starts
        wait_for_health(port, timeout=120)
        wait_for_health(port, timeout=10, service="tensorflow.serving.PredictionService")
        namespace: dict = {}
        code = docs_snippet().replace("localhost:8500", f"127.0.0.1:{port}")
        exec(compile(code, "docs snippet", "exec"), namespace)  # noqa: S102 - the docs' own example
        assert namespace["metadata"].model_spec.version.value == 1
        assert namespace["logits"].shape == (1, len(set(TEXT)))
        assert sorted(namespace["step"].inputs) == ["input_ids", "layer_0_h", "layer_1_h"]

        assert export_version(base, "lstm").name == "2"  # a new version (another cell) is picked up
        wait_for(lambda: metadata_version(port) == 2, 60, "version 2 served", server)
        url = f"http://127.0.0.1:{monitoring}{defaults.MONITORING_PATH}"
        assert (
            ":tensorflow:serving:request_count{"
            in urllib.request.urlopen(url, timeout=10).read().decode()
        )
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            out, err = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            out, err = server.communicate()
    assert server.returncode == 0, err[-2000:]
    assert f"serving charloom versions [1] on port {port}" in out
    assert f"REST API at http://127.0.0.1:{monitoring}/v1/models/charloom" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "give --model-base-path (one model) or --model-config-file (several)"),
        (
            ["--model-base-path", "/nonexistent/models"],
            "model base path /nonexistent/models of model 'charloom' is not a directory",
        ),
        (
            ["--model-base-path", ".", "--tls-cert", "cert.pem"],
            "--tls-cert and --tls-key must be given together",
        ),
        (
            ["--model-config-file", "/nonexistent/models.config"],
            "cannot read model config file /nonexistent/models.config",
        ),
    ],
)
def test_serve_flag_mistakes_are_one_line_errors(argv, message, capsys):
    from charloom.cli import main

    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
