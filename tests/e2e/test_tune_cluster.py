"""The tuning cluster as users run it, on loopback with real processes: two Ray nodes (token
authentication), results and checkpoints on an S3-compatible server, a node lost while its trial
runs, a driver killed and resumed from S3, and the best trial exported from S3.

`make test-cluster` runs it (CI too); it is marked ``cluster`` and left out of `make test`.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.helpers.cluster import BUCKET, ray_cluster, s3_json_lines, s3_keys, s3_server
from tests.helpers.tune_runs import tune_command, write_space
from tests.helpers.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

EPOCHS = 10
STEPS_PER_EPOCH = 80  # about a second an epoch here: a trial still runs when its node is lost


def start_tune(address, environment, space, corpus, name, models, log):
    return subprocess.Popen(
        tune_command(
            "--address",
            address,
            "--storage-path",
            f"s3://{BUCKET}/experiments",
            "--name",
            name,
            "--space",
            str(space),
            "--corpus",
            str(corpus),
            "--num-samples",
            "1",
            "--scheduler",
            "fifo",
            "--cpus-per-trial",
            "1",
            "--max-failures",
            "3",
            "--model-base-path",
            str(models),
        ),
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def checkpoints(environment, name) -> dict[str, int]:
    """Per trial directory in S3, how many epoch checkpoints it holds."""
    found: dict[str, set[str]] = {}
    for key in s3_keys(environment, f"experiments/{name}/"):
        parts = key.split("/")
        if len(parts) > 4 and parts[3].startswith("checkpoint_"):
            found.setdefault(parts[2], set()).add(parts[3])
    return {trial: len(names) for trial, names in found.items()}


def trial_results(environment, name) -> dict[str, list[dict]]:
    return {
        key.split("/")[2]: s3_json_lines(environment, key)
        for key in s3_keys(environment, f"experiments/{name}/")
        if key.endswith("/result.json")
    }


def test_two_nodes_on_s3_survive_a_lost_node_and_a_killed_driver(small_corpus, tmp_path: Path):
    space = write_space(tmp_path / "space.yaml", epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH)
    with s3_server() as s3_environment, ray_cluster(s3_environment) as (address, env, worker):
        # 1. Two trials, one per node; the second node is killed once both have checkpoints.
        log_path = tmp_path / "nodes.log"
        with log_path.open("w") as log:
            driver = start_tune(
                address, env, space, small_corpus, "nodes", tmp_path / "models-nodes", log
            )
            try:
                wait_for(
                    lambda: len([n for n in checkpoints(env, "nodes").values() if n >= 1]) == 2,
                    240,
                    "both trials checkpointed in S3",
                    driver,
                    interval=0.5,
                )
                worker.kill()
                assert driver.wait(timeout=420) == 0, log_path.read_text()[-3000:]
            finally:
                driver.kill()
        output = log_path.read_text()
        assert "FileNotFoundError" not in output, output[-3000:]
        results = trial_results(env, "nodes")
        assert len(results) == 2
        nodes = {row["node"] for rows in results.values() for row in rows}
        assert len(nodes) == 2, "the trials ran on both nodes"
        moved = [rows for rows in results.values() if len({r["node"] for r in rows}) == 2]
        summary = {t: [(r["epoch"], r["node"][:6]) for r in rows] for t, rows in results.items()}
        assert len(moved) == 1, f"the lost node's trial did not move: {summary}"
        rows = moved[0]
        first_node = rows[0]["node"]
        after = [r["epoch"] for r in rows if r["node"] != first_node]
        before = [r["epoch"] for r in rows if r["node"] == first_node]
        assert after[0] > 1 and after[0] <= max(before) + 1, (before, after)  # from its checkpoint
        assert after[-1] == EPOCHS
        assert all(max(r["epoch"] for r in rows) == EPOCHS for rows in results.values())
        assert (tmp_path / "models-nodes" / "1" / "saved_model.pb").is_file()  # read from S3

        # 2. The driver killed mid-experiment, then `tune --resume s3://...` finishes it.
        log_path = tmp_path / "driver.log"
        with log_path.open("w") as log:
            driver = start_tune(
                address, env, space, small_corpus, "driver", tmp_path / "models-driver", log
            )
            try:
                wait_for(
                    lambda: sum(checkpoints(env, "driver").values()) >= 2,
                    240,
                    "two checkpoints in S3",
                    driver,
                    interval=0.5,
                )
            finally:
                driver.send_signal(signal.SIGKILL)
                driver.wait()
        resumed = subprocess.run(
            tune_command("--resume", f"s3://{BUCKET}/experiments/driver", "--address", address),
            env=env,
            capture_output=True,
            text=True,
            timeout=420,
        )
        assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
        results = trial_results(env, "driver")
        assert len(results) == 2
        assert all(max(r["epoch"] for r in rows) == EPOCHS for rows in results.values())
        assert (tmp_path / "models-driver" / "1" / "saved_model.pb").is_file()
