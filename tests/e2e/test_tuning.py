"""`charloom tune` end to end on a local Ray: ASHA with MLflow, a driver kill + resume with a trial
failure in the resumed run. (Two trials of two replicas at once, exported: the job submitted
to a head node, tests/e2e/test_job_submission.py.)"""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from tests.helpers.tune_runs import (
    checkpoints,
    env,
    reported_epochs,
    tune_command,
    write_space,
)
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.e2e


def _run(args, timeout=300):
    proc = subprocess.run(
        tune_command(*args), env=env(), capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


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


def test_a_killed_driver_resumes_and_a_crashed_trial_restarts_from_its_checkpoint(
    tmp_path, small_corpus
):
    """A lost machine, then a lost worker. The driver and the Ray it started are killed after the
    first checkpoint; `--resume` goes on from it. In the resumed run the second trial's worker is
    killed after its first report: the trial continues from its checkpoint on a new worker (the
    experiment's `--max-failures 2`), never from epoch 1, and nothing counts it as failed."""
    space = write_space(tmp_path / "space.yaml", epochs=4, steps_per_epoch=30)
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
            "--max-failures",
            "2",
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
    first_run_trials = {path.parent for path in experiment.glob("*/result.json")}

    resumed = subprocess.Popen(
        tune_command("--resume", str(experiment)),
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def second_trial():  # the trial the killed driver never started
            started = [path.parent for path in experiment.glob("*/result.json")]
            return next((d for d in started if d not in first_run_trials), None)

        trial_dir = wait_for(second_trial, 240, "the second trial's start", resumed)
        first = wait_for(lambda: reported_epochs(trial_dir), 60, "its first report", resumed)
        os.kill(first[-1][1], signal.SIGKILL)  # the trial's worker process
        output, _ = resumed.communicate(timeout=300)
    finally:
        resumed.kill()
    assert resumed.returncode == 0, output[-3000:]
    events = [line for line in output.splitlines() if "  [trials " in line]
    # the progress line goes on, counting both trials of the space's cell grid, none failed
    assert events and "finished 4 epochs  [trials 2/2 done (0 running) | best val_bpc" in events[-1]
    assert "exported:" in output
    table = (experiment / "results.md").read_text(encoding="utf-8").splitlines()
    assert len(table) == 4 and all("| 4/4 | completed |" in row for row in table[2:])
    assert (tmp_path / "models" / "1").is_dir()
    rows = reported_epochs(trial_dir)
    epochs = [e for e, _ in rows]
    assert epochs[-1] == 4
    assert epochs == sorted(epochs) and epochs[0] == 1  # continued, never restarted from zero
    assert len({pid for _, pid in rows}) == 2  # a new worker took over after the kill


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
