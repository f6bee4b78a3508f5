"""Tuning benchmark: the same 4-trial `charloom tune` search with 1 vs 2 concurrent trials, and
ASHA vs no early stopping (FIFO): compute spent to reach the same best val_bpc.

    .venv/bin/python -m bench.tuning           # three searches of bench/spaces/tuning.yaml, ~15 minutes
    .venv/bin/python -m bench.tuning --quick   # 2 trials x 2 epochs each

Every search samples the same trials (random search, seed 0). Compute is counted in trial-epochs
and trial-seconds from Ray's per-trial result.json. Writes bench/results/tuning.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.lib.common import (
    CHARLOOM,
    REPO,
    machine_info,
    machine_line,
    markdown_table,
    print_machine,
    target_line,
    targets_markdown,
    write_results,
)

SPACE = REPO / "bench" / "spaces" / "tuning.yaml"
# name -> (scheduler, max concurrent trials, CPUs per trial); both concurrency settings use both cores.
SEARCHES = {
    "fifo-1x2cpu": ("fifo", 1, 2),
    "fifo-2x1cpu": ("fifo", 2, 1),
    "asha-2x1cpu": ("asha", 2, 1),
}


def run_search(name: str, storage: Path, num_samples: int, max_epochs: int | None) -> dict:
    scheduler, concurrent, cpus = SEARCHES[name]
    command = [
        CHARLOOM,
        "tune",
        "--corpus",
        "shakespeare",
        "--space",
        str(SPACE),
        "--num-samples",
        str(num_samples),
        "--scheduler",
        scheduler,
        "--max-concurrent",
        str(concurrent),
        "--cpus-per-trial",
        str(cpus),
        "--seed",
        "0",
        "--storage-path",
        str(storage),
        "--name",
        name,
        "--model-base-path",
        "",
    ]
    if max_epochs:
        command += ["--max-epochs", str(max_epochs)]
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=3600)
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr[-3000:]}")
    reports = read_reports(storage / name)
    return {
        "command": " ".join(command[1:]),
        "wall_seconds": wall,
        "reports": reports,
        **summarize(reports),
    }


def read_reports(experiment: Path) -> list[dict]:
    """Every epoch report of every trial: trial, epoch, val_bpc, seconds of that epoch, timestamp."""
    reports = []
    for path in sorted(experiment.glob("*/result.json")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            if r.get("val_bpc") is None:
                continue
            reports.append(
                {
                    "trial": r.get("trial_id", path.parent.name),
                    "epoch": r.get("training_iteration"),
                    "val_bpc": r["val_bpc"],
                    "seconds": r.get("time_this_iter_s", 0.0),
                    "timestamp": r.get("timestamp", 0),
                }
            )
    return sorted(reports, key=lambda r: (r["timestamp"], r["trial"], r["epoch"]))


def summarize(reports: list[dict]) -> dict:
    return {
        "trials": len({r["trial"] for r in reports}),
        "trial_epochs": len(reports),
        "trial_seconds": sum(r["seconds"] for r in reports),
        "best_val_bpc": min(r["val_bpc"] for r in reports),
    }


def compute_to_reach(reports: list[dict], target: float) -> dict:
    """Trial-epochs and trial-seconds spent (in report order) until some trial reports <= target."""
    epochs, seconds = 0, 0.0
    for r in reports:
        epochs += 1
        seconds += r["seconds"]
        if r["val_bpc"] <= target + 1e-9:
            return {"trial_epochs": epochs, "trial_seconds": seconds}
    return {"trial_epochs": None, "trial_seconds": None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--num-samples", type=int, default=4)
    args = parser.parse_args()
    num_samples, max_epochs = (2, 2) if args.quick else (args.num_samples, None)
    info = machine_info()
    print_machine(info)
    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="charloom-bench-tune-") as tmp:
        for name in SEARCHES:
            runs[name] = run_search(name, Path(tmp), num_samples, max_epochs)
            print(
                f"{name}: wall {runs[name]['wall_seconds']:.0f}s, {runs[name]['trial_epochs']} trial-epochs, "
                f"best val_bpc {runs[name]['best_val_bpc']:.3f}",
                flush=True,
            )
    fifo, asha = runs["fifo-2x1cpu"], runs["asha-2x1cpu"]
    common_best = max(fifo["best_val_bpc"], asha["best_val_bpc"])  # a val_bpc both searches reach
    reach = {
        name: compute_to_reach(runs[name]["reports"], common_best)
        for name in ("fifo-2x1cpu", "asha-2x1cpu")
    }
    rows = []
    for name, run in runs.items():
        scheduler, concurrent, cpus = SEARCHES[name]
        rows.append(
            (
                f"{scheduler.upper()}, {concurrent} concurrent x {cpus} CPU",
                f"{run['wall_seconds']:.0f}",
                run["trials"],
                run["trial_epochs"],
                f"{run['trial_seconds']:.0f}",
                f"{run['best_val_bpc']:.3f}",
            )
        )
    speedup = runs["fifo-1x2cpu"]["wall_seconds"] / fifo["wall_seconds"]
    targets = [
        target_line("2 concurrent trials vs 1 (same search, wall time), speed-up", speedup, 1.0)
    ]
    if reach["asha-2x1cpu"]["trial_seconds"] and reach["fifo-2x1cpu"]["trial_seconds"]:
        targets.append(
            target_line(
                f"ASHA vs FIFO: compute to reach val_bpc {common_best:.3f}, FIFO / ASHA trial-seconds",
                reach["fifo-2x1cpu"]["trial_seconds"] / reach["asha-2x1cpu"]["trial_seconds"],
                1.0,
            )
        )
    markdown = "\n".join(
        [
            f"Machine: {machine_line(info)}",
            "",
            f"Search: `--space bench/spaces/tuning.yaml --num-samples {num_samples} --seed 0` "
            "(random search: every run samples the "
            f"same trials){f', --max-epochs {max_epochs}' if max_epochs else ''}.",
            "",
            markdown_table(
                ("search", "wall s", "trials", "trial-epochs", "trial-seconds", "best val_bpc"),
                rows,
            ),
            "",
            f"Compute until a trial first reports val_bpc <= {common_best:.3f} (the worse of the two searches' bests, "
            "so both reach it):",
            "",
            markdown_table(
                ("scheduler", "trial-epochs", "trial-seconds", "whole search trial-epochs"),
                [
                    (
                        name.split("-")[0].upper(),
                        reach[name]["trial_epochs"],
                        f"{reach[name]['trial_seconds']:.0f}"
                        if reach[name]["trial_seconds"]
                        else "n/a",
                        runs[name]["trial_epochs"],
                    )
                    for name in ("fifo-2x1cpu", "asha-2x1cpu")
                ],
            ),
            "",
            "Targets (the issue sets none; these are the expected directions):",
            "",
            targets_markdown(targets),
        ]
    )
    results = {
        "machine": info,
        "quick": args.quick,
        "num_samples": num_samples,
        "runs": runs,
        "common_best_val_bpc": common_best,
        "compute_to_reach": reach,
        "targets": targets,
    }
    write_results("tuning", results, markdown, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
