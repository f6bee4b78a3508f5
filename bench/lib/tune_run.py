"""One `charloom tune` run of a benchmark, as a user runs it, and what it exported."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from bench.lib.common import CHARLOOM, REPO


def run_tune(
    corpus: str,
    space: Path,
    budget_s: float,
    storage: Path,
    name: str,
    extra: list[str],
    timeout_s: float,
) -> dict:
    """Tune ``space`` on ``corpus`` for ``budget_s`` into ``storage/name``; the exported version's
    path, its metadata (``assets/charloom.json``), the trials table and the wall time."""
    models = storage / "models" / name
    command = [
        CHARLOOM,
        "tune",
        "--corpus",
        corpus,
        "--space",
        str(space),
        "--time-budget-s",
        str(budget_s),
        "--seed",
        "0",
        "--storage-path",
        str(storage),
        "--name",
        name,
        "--model-base-path",
        str(models),
        *extra,
    ]
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=timeout_s)
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr[-3000:]}")
    version = sorted(p for p in models.iterdir() if p.name.isdigit())[-1]
    metadata = json.loads((version / "assets" / "charloom.json").read_text(encoding="utf-8"))
    return {
        "command": " ".join(command[1:]),
        "wall_seconds": wall,
        "saved_model": str(version),
        "checkpoint": metadata["source"]["checkpoint"],
        "config": metadata["config"],
        "metadata": metadata,
        "trials_table": (storage / name / "results.md").read_text(encoding="utf-8"),
    }
