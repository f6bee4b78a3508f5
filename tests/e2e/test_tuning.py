"""`charloom tune` end to end on a local Ray: replicas, ASHA, trial failure, driver kill + resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from tests.helpers.tune_runs import (
    checkpoints,
    env,
    reported_epochs,
    tune_command,
    wait_for,
    write_space,
)

pytestmark = pytest.mark.e2e


def _run(args, timeout=300):
    proc = subprocess.run(
        tune_command(*args), env=env(), capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_two_trials_with_two_replicas_export_the_best(tmp_path, small_corpus):
    from ray.tune import ExperimentAnalysis

    space = write_space(tmp_path / "space.yaml")
    proc = _run(
        [
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
            "exp",
            "--model-base-path",
            str(tmp_path / "models"),
        ]
    )
    experiment = tmp_path / "results" / "exp"
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
    best_bpc = min(r["val_bpc"] for r in rows)
    assert metadata["source"]["val_bpc"] == pytest.approx(best_bpc)
    assert metadata["source"]["trial_id"] in proc.stdout
    assert "exported:" in proc.stdout


def test_asha_stops_a_bad_trial_early_and_trials_are_logged_to_mlflow(tmp_path, small_corpus):
    mlflow = pytest.importorskip("mlflow", reason="the test extra installs mlflow-skinny")
    space = write_space(
        tmp_path / "space.yaml", cell="gru", learning_rate={"grid": [0.02, 1e-7]}, epochs=3
    )
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _run(
        [
            "--corpus",
            str(small_corpus),
            "--space",
            str(space),
            "--num-samples",
            "1",
            "--max-concurrent",
            "1",
            "--grace-period",
            "1",
            "--reduction-factor",
            "2",
            "--storage-path",
            str(tmp_path / "results"),
            "--name",
            "asha",
            "--model-base-path",
            "",
            "--mlflow-tracking-uri",
            store,
        ]
    )
    table = (tmp_path / "results" / "asha" / "results.md").read_text(encoding="utf-8").splitlines()
    good, bad = table[2], table[3]
    assert "| 3/3 | completed | 0.02 |" in good
    assert "| 1/3 | stopped early | 1e-07 |" in bad

    client = mlflow.MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("asha")
    runs = client.search_runs([experiment.experiment_id])
    by_lr = {float(run.data.params["learning_rate"]): run for run in runs}
    assert sorted(by_lr) == [1e-7, 0.02]
    assert all(run.info.status == "FINISHED" for run in runs)
    assert by_lr[0.02].data.metrics["val_bpc"] < by_lr[1e-7].data.metrics["val_bpc"]
    assert [m.step for m in client.get_metric_history(by_lr[0.02].info.run_id, "val_bpc")] == [
        1,
        2,
        3,
    ]


def test_crashed_trial_restarts_from_its_checkpoint(tmp_path, small_corpus):
    space = write_space(tmp_path / "space.yaml", cell="gru", epochs=4, steps_per_epoch=30)
    experiment = tmp_path / "results" / "crash"
    proc = subprocess.Popen(
        tune_command(
            "--corpus",
            str(small_corpus),
            "--space",
            str(space),
            "--num-samples",
            "1",
            "--storage-path",
            str(tmp_path / "results"),
            "--name",
            "crash",
            "--max-failures",
            "2",
            "--model-base-path",
            str(tmp_path / "models"),
        ),
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        trial_dir = wait_for(
            lambda: checkpoints(experiment) and checkpoints(experiment)[0].parent,
            240,
            "the first checkpoint",
            proc,
        )
        first = wait_for(lambda: reported_epochs(trial_dir), 30, "the first report", proc)
        os.kill(first[-1][1], signal.SIGKILL)  # the trial's worker process
        output, _ = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, output[-3000:]
    rows = reported_epochs(trial_dir)
    epochs = [e for e, _ in rows]
    pids = [p for _, p in rows]
    assert epochs[-1] == 4
    assert epochs == sorted(epochs) and epochs[0] == 1  # continued, never restarted from zero
    assert len(set(pids)) == 2  # a new worker took over after the kill
    assert (tmp_path / "models" / "1").is_dir()


def test_killed_driver_resumes_with_resume_flag(tmp_path, small_corpus):
    space = write_space(tmp_path / "space.yaml", epochs=3, steps_per_epoch=20)
    experiment = tmp_path / "results" / "driver"
    proc = subprocess.Popen(
        tune_command(
            "--corpus",
            str(small_corpus),
            "--space",
            str(space),
            "--num-samples",
            "1",
            "--max-concurrent",
            "1",
            "--scheduler",
            "fifo",
            "--storage-path",
            str(tmp_path / "results"),
            "--name",
            "driver",
            "--model-base-path",
            str(tmp_path / "models"),
        ),
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: checkpoints(experiment), 240, "the first checkpoint", proc)
        os.killpg(
            proc.pid, signal.SIGKILL
        )  # the driver and the Ray it started, as in a lost machine
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert not (tmp_path / "models" / "1").exists()
    resumed = _run(["--resume", str(experiment)])
    events = [line for line in resumed.stdout.splitlines() if "  [trials " in line]
    # the progress line goes on, counting both trials of the space's cell grid
    assert events and "finished 3 epochs  [trials 2/2 done (0 running) | best val_bpc" in events[-1]
    assert "exported:" in resumed.stdout
    table = (experiment / "results.md").read_text(encoding="utf-8").splitlines()
    assert len(table) == 4 and all("| 3/3 | completed |" in row for row in table[2:])
    assert (tmp_path / "models" / "1").is_dir()


def test_resume_of_a_non_experiment_is_a_clear_error(tmp_path):
    proc = subprocess.run(
        tune_command("--resume", str(tmp_path)),
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "is not a charloom tune experiment" in proc.stderr
    assert "Traceback" not in proc.stderr
