"""Preset benchmark: what the `tiny` preset's own comment promises, measured through the CLI.

    .venv/bin/python -m bench.presets            # 2 runs, ~1.5 minutes; --quick for one

`trainer/configs/tiny.yaml` says it learns tiny Shakespeare below 3 bits per character in under
a minute on 2 CPU cores. Each run is `charloom train --corpus shakespeare --config tiny` (the
installed command, as a user runs it) timed from start to exit; the figure is the best
validation bits per character in its run.json. Writes bench/results/presets.{json,md}.
(This was `test_learns_tiny_shakespeare_then_exports` in the suite: a benchmark, not a test.)
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
    machine_info,
    machine_line,
    markdown_table,
    median,
    print_machine,
    target_line,
    targets_markdown,
    write_results,
)

PRESET = "tiny"
CORPUS = "shakespeare"
TARGET_BPC = 3.0  # tiny.yaml: "learns tiny Shakespeare below 3 bits/char"
TARGET_SECONDS = 60.0  # tiny.yaml: "in under a minute on 2 CPU cores"


def train_once(out: Path) -> dict:
    """One `charloom train` of the preset: its wall-clock seconds and its run.json's figures."""
    started = time.monotonic()
    proc = subprocess.run(
        [CHARLOOM, "train", "--corpus", CORPUS, "--config", PRESET, "--out", str(out)],
        capture_output=True,
        text=True,
    )
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"charloom train failed ({proc.returncode}): {proc.stderr[-2000:]}")
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    return {
        "seconds": round(seconds, 1),
        "best_val_bpc": round(run["best"]["val_bpc"], 4),
        "epochs_completed": run["epochs_completed"],
        "status": run["status"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run instead of two")
    parser.add_argument("--runs", type=int, default=2, choices=range(1, 11), metavar="1-10")
    args = parser.parse_args()
    runs_wanted = 1 if args.quick else args.runs
    info = machine_info()
    print_machine(info)

    runs = []
    with tempfile.TemporaryDirectory(prefix="charloom-presets-") as scratch:
        for index in range(runs_wanted):
            run = train_once(Path(scratch) / f"run-{index}")
            print(f"run {index + 1}: {run}", flush=True)
            runs.append(run)

    bpc = median(r["best_val_bpc"] for r in runs)
    seconds = median(r["seconds"] for r in runs)
    targets = [
        target_line(f"`{PRESET}` best val_bpc on {CORPUS}", bpc, TARGET_BPC, False, " bits"),
        target_line(
            f"`{PRESET}` `charloom train` wall-clock", seconds, TARGET_SECONDS, False, " s"
        ),
    ]
    table = markdown_table(
        ("run", "best val_bpc", "epochs", "seconds (process start to exit)"),
        [
            (i + 1, f"{r['best_val_bpc']:.3f}", r["epochs_completed"], r["seconds"])
            for i, r in enumerate(runs)
        ],
    )
    markdown = (
        f"Machine: {machine_line(info)}\n\n"
        f"`charloom train --corpus {CORPUS} --config {PRESET}`, {len(runs)} run(s); "
        f"median val_bpc {bpc:.3f}, median {seconds:.0f} s.\n\n"
        f"{table}\n\n{targets_markdown(targets)}\n"
    )
    data = {"machine": info, "preset": PRESET, "corpus": CORPUS, "runs": runs, "targets": targets}
    write_results("presets", data, markdown, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
