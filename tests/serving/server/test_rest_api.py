"""TF Serving's REST API on `charloom serve`, driven by a real HTTP client (requests) and by the
documented curl commands."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import requests

from serving.server.config import ModelConfig, RestOptions, ServerConfig, ServerLimits
from serving.server.model_server import start_server
from serving.signature_inputs import detokenize_ids
from tests.helpers.session_model import SessionSignatures

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def rest(tmp_path_factory):
    from types import MappingProxyType

    from tests.helpers.toy_models import export_toy_model

    base = tmp_path_factory.mktemp("rest") / "charloom"
    export_toy_model(base, units=(16,))
    model = ModelConfig("charloom", base, version_labels=MappingProxyType({"stable": 1}))
    config = ServerConfig(
        models=(model,),
        port=0,
        host="127.0.0.1",
        rest=RestOptions(port=0),
        limits=ServerLimits(max_message_bytes=200_000),
    )
    with start_server(config) as handle:
        yield f"http://127.0.0.1:{handle.rest_port}", base / "1"


def test_status_and_metadata(rest):
    url, _ = rest
    for path in (
        "/v1/models/charloom",
        "/v1/models/charloom/versions/1",
        "/v1/models/charloom/labels/stable",
    ):
        reply = requests.get(url + path, timeout=30)
        assert reply.status_code == 200, reply.text
        assert reply.json() == {
            "model_version_status": [
                {
                    "version": "1",
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                }
            ]
        }
    metadata = requests.get(url + "/v1/models/charloom/metadata", timeout=30).json()
    assert metadata["model_spec"] == {"name": "charloom", "version": "1", "signature_name": ""}
    signatures = metadata["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "prefill", "sample", "tokenize", "detokenize"} <= set(signatures)
    assert signatures["tokenize"]["inputs"]["text"]["dtype"] == "DT_STRING"


@pytest.mark.parametrize(
    "method, path, status, message",
    [
        ("GET", "/v1/models/nope", 404, "Could not find any versions of model nope"),
        (
            "GET",
            "/v1/models/charloom/versions/9",
            404,
            "Could not find version 9 of model charloom",
        ),
        (
            "GET",
            "/v1/models/charloom/labels/canary",
            400,
            "Unrecognized servable version label: canary",
        ),
        ("GET", "/v1/models", 400, "Missing model name in request."),
        ("DELETE", "/v1/models/charloom", 400, "Malformed request: DELETE /v1/models/charloom"),
        ("POST", "/v1/models/charloom:classify", 501, "classify is not supported"),
        ("POST", "/v1/models/nope:predict", 404, "Servable not found for request: Latest(nope)"),
    ],
)
def test_errors_have_tf_servings_status_codes(rest, method, path, status, message):
    url, _ = rest
    reply = requests.request(method, url + path, data=b'{"instances": [1]}', timeout=30)
    assert reply.status_code == status
    assert message in reply.json()["error"]


def test_predict_in_both_formats_equals_the_session(rest):
    url, version_dir = rest
    session = SessionSignatures(version_dir)
    try:
        expected = session["serving_default"](
            input_ids=np.array([[3], [4]], np.int32), layer_0_h=np.zeros((2, 16), np.float32)
        )
    finally:
        session.close()
    rows = requests.post(
        url + "/v1/models/charloom:predict",
        timeout=30,
        json={
            "instances": [
                {"input_ids": [3], "layer_0_h": [0.0] * 16},
                {"input_ids": [4], "layer_0_h": [0.0] * 16},
            ]
        },
    )
    assert rows.status_code == 200, rows.text
    predictions = rows.json()["predictions"]
    np.testing.assert_allclose([p["logits"] for p in predictions], expected["logits"], atol=1e-6)
    columns = requests.post(
        url + "/v1/models/charloom/versions/1:predict",
        timeout=30,
        json={
            "signature_name": "serving_default",
            "inputs": {"input_ids": [[3], [4]], "layer_0_h": [[0.0] * 16] * 2},
        },
    )
    np.testing.assert_allclose(columns.json()["outputs"]["logits"], expected["logits"], atol=1e-6)
    text = requests.post(
        url + "/v1/models/charloom:predict",
        timeout=30,
        json={"signature_name": "tokenize", "instances": ["ROMEO:", "KING"]},
    ).json()["predictions"]
    assert [row["lengths"] for row in text] == [6, 4]
    back = requests.post(
        url + "/v1/models/charloom:predict",
        timeout=30,
        json={
            "signature_name": "detokenize",
            "inputs": {"input_ids": detokenize_ids(text[0]["input_ids"][:6]).tolist()},
        },
    ).json()
    assert back == {"outputs": ["ROMEO:"]}


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{not json", "JSON Parse error"),
        (b"[1, 2]", "is not a JSON object"),
        (
            b'{"signature_name": 3, "instances": [1]}',
            "'signature_name' key must be a string value.",
        ),
        (b'{"signature_name": "detokenize"}', "Missing 'inputs' or 'instances' key"),
        (b'{"signature_name": "detokenize", "inputs": [[1]], "instances": [[1]]}', "Not both"),
        (
            b'{"signature_name": "nope", "instances": [1]}',
            'Serving signature name: "nope" not found',
        ),
        (
            b'{"signature_name": "detokenize", "instances": [[1.5]]}',
            "is not of expected type: int32",
        ),
        (
            b'{"signature_name": "detokenize", "instances": [["a"]]}',
            "is not of expected type: int32",
        ),
        (b'{"signature_name": "detokenize", "instances": [[1], [1, 2]]}', "rectangular"),
        (
            json.dumps(
                {"signature_name": "detokenize", "instances": detokenize_ids([99]).tolist()}
            ).encode(),
            "outside the vocabulary",
        ),
        (b'{"signature_name": "detokenize", "instances": [[1]]}', "expected shape"),
        (b'{"instances": [{"input_ids": [1]}]}', "input size does not match signature"),
        (b'{"signature_name": "tokenize", "instances": [{"b64": "!!"}]}', "not valid base64"),
    ],
)
def test_bad_bodies_are_400_with_a_message(rest, body, message):
    url, _ = rest
    reply = requests.post(url + "/v1/models/charloom:predict", data=body, timeout=30)
    assert reply.status_code == 400, reply.text
    assert message in reply.json()["error"]


def test_a_body_over_the_message_limit_is_refused_before_it_is_read(rest):
    url, _ = rest
    body = json.dumps({"signature_name": "detokenize", "instances": [[1] * 100_000]}).encode()
    reply = requests.post(url + "/v1/models/charloom:predict", data=body, timeout=30)
    assert reply.status_code == 413 and "--max-message-bytes" in reply.json()["error"]


def test_unknown_paths_and_metrics(rest):
    url, _ = rest
    assert requests.get(url + "/favicon.ico", timeout=30).status_code == 404
    assert requests.get(url + "/v1/models/charloom", timeout=30).status_code == 200  # one OK call
    text = requests.get(url + "/monitoring/prometheus/metrics", timeout=30).text
    assert re.search(
        r'^:tensorflow:serving:request_count\{model_name="charloom",status="OK"\} \d', text, re.M
    )
    assert 'entrypoint="REST"' in text


def documented_commands() -> list[str]:
    docs = (REPO / "docs" / "serving.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- snippet:rest-curl -->\n```bash\n(.*?)```", docs, re.S)
    assert block, "docs/serving.md lost the REST curl snippet"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_documented_curl_commands_work(rest):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    url, _ = rest
    commands = documented_commands()
    assert len(commands) == 5
    for command in commands:
        completed = subprocess.run(
            ["bash", "-c", command.replace("localhost:8501", url.removeprefix("http://"))],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert completed.returncode == 0 and completed.stdout.strip(), (command, completed.stderr)
        if "| grep" not in command:
            assert "error" not in json.loads(completed.stdout), (command, completed.stdout)


def test_a_malformed_request_line_is_one_log_line(rest, caplog):
    import logging
    import socket
    from urllib.parse import urlparse

    url, _ = rest
    with caplog.at_level(logging.DEBUG, logger="serving.server.rest.server"):
        for raw in (
            b"GET /v1/models HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"\x00\x01 / X\r\n\r\n",
        ):
            with socket.create_connection((urlparse(url).hostname, urlparse(url).port)) as s:
                s.sendall(raw)
                s.settimeout(10)
                assert s.recv(100).split(b"\r\n")[0].endswith(b" 400 Bad Request")
    records = [r for r in caplog.records if r.name == "serving.server.rest.server"]
    assert records
    for record in records:
        assert record.exc_info is None and "\n" not in record.getMessage()
