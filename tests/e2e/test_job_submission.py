"""`ray job submit --working-dir . -- charloom tune ...` against a real `ray start --head` cluster:
two trials of two replicas at once, the best exported; and a local `charloom tune` beside that
cluster starts a Ray of its own."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.helpers.ports import free_port
from tests.helpers.tune_runs import env, write_space

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
NO_AGENT_YET = "No available agent to submit job, please try again later"  # Ray's own words
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A one-node cluster started the way operators start a head node (`ray start --head`), in
    a session and Ray directory of its own (``RAY_TMPDIR`` finds it): its session is killed
    afterwards, never `ray stop`, which would stop every Ray of the machine. Yields the dashboard
    address, the environment of a client, and the head's GCS address."""
    dashboard, port, agent = free_port(), free_port(), free_port()
    token = tmp_path_factory.mktemp("ray-head") / "ray-auth-token"
    token.write_text(secrets.token_hex(32), encoding="utf-8")
    ray_tmpdir = tempfile.mkdtemp(prefix="r", dir="/tmp")  # short: Ray's socket paths have a limit
    # Ray 2.60 authenticates clients with a token; the submitter needs the cluster's token.
    head_env = {
        **env(),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
        "RAY_TMPDIR": ray_tmpdir,
    }
    # `ray start` returns once the head is up; its daemons stay in the session it leads
    starter = subprocess.Popen(
        [
            str(BIN / "ray"),
            "start",
            "--head",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard}",
            # not Ray's fixed default (52365): a local Ray of another test may hold that one,
            # and a head whose agent cannot listen never takes a job
            f"--dashboard-agent-listen-port={agent}",
            f"--temp-dir={ray_tmpdir}/ray",
            "--num-cpus=2",
            "--disable-usage-stats",
        ],
        env=head_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = starter.communicate(timeout=180)
        assert starter.returncode == 0, out + err
        yield f"http://127.0.0.1:{dashboard}", head_env, f"127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(starter.pid, signal.SIGKILL)  # the head's session: every daemon
        shutil.rmtree(ray_tmpdir, ignore_errors=True)


def test_tune_job_submitted_to_a_head_node(ray_head, tmp_path, small_corpus):
    """`ray job submit ... -- charloom tune`: two trials (the space's cell grid) of two replicas
    each run at once on the head; the experiment is in Tune's standard layout with the ranked
    table and the learning curves, and the best trial is exported."""
    from ray.tune import ExperimentAnalysis

    address, head_env, _ = ray_head
    space = write_space(tmp_path / "space.yaml")
    command = [
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
        "--replicas",
        "2",
        "--max-concurrent",
        "2",
        "--scheduler",
        "fifo",
        "--storage-path",
        str(tmp_path / "results"),
        "--name",
        "job",
        "--model-base-path",
        str(tmp_path / "models"),
    ]
    deadline = time.monotonic() + 120
    while True:  # a busy head's job agent registers a while after `ray start` returns
        submit = subprocess.run(command, env=head_env, capture_output=True, text=True, timeout=600)
        if NO_AGENT_YET not in submit.stdout + submit.stderr or time.monotonic() > deadline:
            break
        time.sleep(2)
    output = submit.stdout + submit.stderr
    assert submit.returncode == 0, output[-4000:]
    assert "succeeded" in output
    assert "exported:" in output
    assert (tmp_path / "models" / "1" / "saved_model.pb").is_file()

    experiment = tmp_path / "results" / "job"
    table = (experiment / "results.md").read_text(encoding="utf-8").splitlines()
    assert len(table) == 4 and "| 1 |" in table[2] and "| 2 |" in table[3]
    assert (experiment / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    analysis = ExperimentAnalysis(str(experiment))  # the standard layout Tune's tools read
    assert len(analysis.trial_dataframes) == 2
    results = sorted(experiment.glob("*/result.json"))
    assert len(results) == 2
    rows = [
        json.loads(line)
        for path in results
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    assert sorted(r["epoch"] for r in rows) == [1, 1, 2, 2]
    assert all(r["replicas"] == 2 and r["val_bpc"] > 0 for r in rows)
    metadata = json.loads(
        (tmp_path / "models" / "1" / "assets" / "charloom.json").read_text(encoding="utf-8")
    )
    assert metadata["source"]["val_bpc"] == pytest.approx(min(r["val_bpc"] for r in rows))
    assert metadata["source"]["trial_id"] in output


def test_tune_without_an_address_starts_its_own_ray_beside_a_running_cluster(ray_head):
    """`charloom tune` with no --address never joins a cluster `ray start` left findable on the
    machine (a bare ray.init() would): it starts a Ray of its own."""
    _, head_env, head_gcs = ray_head
    local = {k: v for k, v in head_env.items() if k != "RAY_ADDRESS"}
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import ray\n"
            "from trainer.tuning.experiment import Display, init_ray\n"
            "init_ray(None, Display())\n"
            "print(ray.get_runtime_context().gcs_address)\n",
        ],
        cwd=REPO,
        env=local,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    own = probe.stdout.strip().splitlines()[-1]
    assert own.rsplit(":", 1)[1] != head_gcs.rsplit(":", 1)[1], (own, head_gcs)
