"""`charloom train` / `charloom export` as real processes: errors, replicas, kill + resume, export.

Whether the `tiny` preset learns tiny Shakespeare as its file says is a benchmark
(bench/presets.py), not a test."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.waiting import wait_for
from trainer.config import load_config
from trainer.corpus import load_corpus
from trainer.training import train

pytestmark = pytest.mark.slow

SMALL = {
    "cell": "gru",
    "units": 32,
    "embedding_dim": 16,
    "seq_len": 48,
    "batch_size": 32,
    "learning_rate": 0.01,
    "steps_per_epoch": 6,
    "validation_steps": 2,
    "epochs": 2,
}


def charloom(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-m", "charloom", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def write_config(path: Path, values: dict) -> Path:
    path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in values.items()))
    return path


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("charloom")]


@pytest.mark.parametrize(
    "case, message",
    [
        ("unknown cell", "cell must be one of gru, lstm"),
        ("units <= 0", "units must be > 0"),
        ("seq_len longer than the corpus", "fewer than one batch"),
        ("batch not divisible by replicas", "not divisible by the 3 replicas"),
        ("non-empty run dir", "not empty; pass --resume"),
        ("resume a missing run", "is not a run directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(case, message, small_corpus, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--corpus", small_corpus, "--out", out]
    if case == "unknown cell":
        args += ["--config", write_config(tmp_path / "c.yaml", {**SMALL, "cell": "transformer"})]
    elif case == "units <= 0":
        args += ["--config", write_config(tmp_path / "c.yaml", {**SMALL, "units": 0})]
    elif case == "seq_len longer than the corpus":
        args += ["--config", "tiny", "--seq-len", "60000"]  # longer than the 40k-character corpus
    elif case == "batch not divisible by replicas":
        args += ["--config", "tiny", "--replicas", "3"]
    elif case == "non-empty run dir":
        out.mkdir()
        (out / "notes.txt").write_text("precious")
        args += ["--config", "tiny"]
    else:
        args += ["--resume"]
    result = charloom(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(error_lines(result)) == 1 and message in error_lines(result)[0], result.stderr
    assert error_lines(result)[0].startswith("charloom train: error:")
    if case == "non-empty run dir":
        assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    elif case != "resume a missing run":
        assert not out.exists()


def test_export_of_a_missing_or_corrupted_run_is_one_line(tmp_path):
    result = charloom(
        "export", "--run", tmp_path / "nope", "--model-base-path", tmp_path / "models"
    )
    assert result.returncode == 2 and "does not exist" in error_lines(result)[0]
    run = tmp_path / "run"
    (run / "best").mkdir(parents=True)
    (run / "run.json").write_text("{}")
    (run / "best" / "checkpoint.json").write_text('{"format": "charloom-checkpoint/1", "epo')
    result = charloom("export", "--run", run, "--model-base-path", tmp_path / "models")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "corrupted" in error_lines(result)[0]
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_two_replicas_reach_the_same_loss_as_one(small_corpus, tmp_path):
    config_path = write_config(tmp_path / "small.yaml", SMALL)
    result = charloom(
        "train",
        "--corpus",
        small_corpus,
        "--config",
        config_path,
        "--out",
        tmp_path / "two",
        "--replicas",
        "2",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    two = json.loads((tmp_path / "two" / "run.json").read_text())
    assert two["replicas"] == 2 and "2 replica(s)" in result.stdout
    one = train(
        load_config(config_path), load_corpus(str(small_corpus)), tmp_path / "one", verbose=0
    )
    # same global batches and seed: only the gradient reduction order differs
    assert two["history"][-1]["val_loss"] == pytest.approx(one.history[-1]["val_loss"], abs=0.02)
    assert two["history"][-1]["val_loss"] < two["history"][0]["val_loss"]


def test_resume_after_sigkill_mid_epoch(small_corpus, tmp_path, capsys):
    config_path = write_config(
        tmp_path / "c.yaml",
        {**SMALL, "units": 128, "batch_size": 4, "steps_per_epoch": 100, "epochs": 3},
    )
    out = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [
        sys.executable,
        "-m",
        "charloom",
        "train",
        "--corpus",
        str(small_corpus),
        "--config",
        str(config_path),
        "--out",
        str(out),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    try:
        first = out / "checkpoints" / "epoch-0001" / "checkpoint.json"
        wait_for(first.exists, 240, "the first checkpoint", process, interval=0.1)
        time.sleep(0.2)  # into epoch 2 (an epoch takes a few seconds)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    before = json.loads((out / "run.json").read_text())
    assert before["status"] == "running" and 1 <= before["epochs_completed"] < 3

    # the resume and the export: the command line in this process (one TensorFlow import less each)
    result = run_cli(capsys, "train", "--out", out, "--resume")
    assert result.returncode == 0, result.stderr[-3000:]
    after = json.loads((out / "run.json").read_text())
    assert after["status"] == "completed" and after["epochs_completed"] == 3
    assert [h["epoch"] for h in after["history"]] == [1, 2, 3]
    assert after["history"][: before["epochs_completed"]] == before["history"]
    assert "3/3 epochs" in result.stdout and "best val_bpc" in result.stdout
    assert not list((out / "checkpoints").glob(".tmp-*"))

    # the resumed run's best checkpoint exports through the CLI, its figures in the assets
    exported = run_cli(capsys, "export", "--run", out, "--model-base-path", tmp_path / "models")
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert exported.stdout.strip() == f"exported {tmp_path / 'models' / '1'}"
    meta = json.loads((tmp_path / "models" / "1" / "assets" / "charloom.json").read_text())
    assert meta["metrics"]["val_bpc"] == pytest.approx(after["best"]["val_bpc"])
    assert meta["source"]["run"] == str(out.resolve())
