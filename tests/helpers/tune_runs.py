"""Helpers for the tuning end-to-end tests: a tiny space and a `charloom tune` subprocess."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

TINY_SPACE = {
    "cell": {"grid": ["gru", "lstm"]},
    "units": 16,
    "embedding_dim": 8,
    "seq_len": 32,
    "batch_size": 16,
    "learning_rate": 0.01,
    "epochs": 2,
    "steps_per_epoch": 5,
    "validation_steps": 2,
    "early_stopping_patience": None,
    "reduce_lr_patience": None,
}


def write_space(path: Path, **changes) -> Path:
    path.write_text(yaml.safe_dump({**TINY_SPACE, **changes}), encoding="utf-8")
    return path


def tune_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "charloom", "tune", *args]


def env() -> dict[str, str]:
    return {
        **os.environ,
        "RAY_DISABLE_USAGE_STATS": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
        "PYTHONUNBUFFERED": "1",
    }


def checkpoints(experiment: Path) -> list[Path]:
    return sorted(experiment.glob("*/checkpoint_*"))


def reported_epochs(trial_dir: Path) -> list[tuple[int, int]]:
    """(epoch, pid) of every report of a trial, in order, from Ray's result.json."""
    import json

    rows = []
    path = trial_dir / "result.json"
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                data = json.loads(line)
                rows.append((int(data["epoch"]), int(data["pid"])))
    return rows
