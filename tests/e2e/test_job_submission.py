"""`ray job submit --working-dir . -- charloom tune ...` against a real `ray start --head` cluster."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.ports import free_port
from tests.helpers.tune_runs import env, write_space

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture
def ray_head(tmp_path):
    """A one-node cluster started the way operators start a head node; always stopped afterwards."""
    dashboard = free_port()
    token = tmp_path / "ray-auth-token"
    token.write_text(secrets.token_hex(32), encoding="utf-8")
    # Ray 2.60 authenticates clients with a token; the submitter needs the cluster's token.
    head_env = {
        **env(),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
    }
    start = subprocess.run(
        [
            str(BIN / "ray"),
            "start",
            "--head",
            f"--port={free_port()}",
            "--node-ip-address=127.0.0.1",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard}",
            "--num-cpus=2",
            "--disable-usage-stats",
        ],
        env=head_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    try:
        assert start.returncode == 0, start.stdout + start.stderr
        yield f"http://127.0.0.1:{dashboard}", head_env
    finally:
        subprocess.run(
            [str(BIN / "ray"), "stop", "--force"], env=head_env, capture_output=True, timeout=120
        )


def test_tune_job_submitted_to_a_head_node(ray_head, tmp_path, small_corpus):
    address, head_env = ray_head
    space = write_space(tmp_path / "space.yaml", cell="gru")
    submit = subprocess.run(
        [
            str(BIN / "ray"),
            "job",
            "submit",
            "--address",
            address,
            "--working-dir",
            str(REPO),
            "--",
            "charloom",
            "tune",
            "--corpus",
            str(small_corpus),
            "--space",
            str(space),
            "--num-samples",
            "1",
            "--storage-path",
            str(tmp_path / "results"),
            "--name",
            "job",
            "--model-base-path",
            str(tmp_path / "models"),
        ],
        env=head_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = submit.stdout + submit.stderr
    assert submit.returncode == 0, output[-4000:]
    assert "succeeded" in output
    assert "exported:" in output
    assert (tmp_path / "models" / "1" / "saved_model.pb").is_file()
    assert (tmp_path / "results" / "job" / "results.md").is_file()
