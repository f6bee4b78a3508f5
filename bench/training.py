"""Training benchmark: `charloom train` vs a plain `model.fit` of the same model on the same data,
and 1 vs 2 logical CPU replicas; every run in its own process.

    .venv/bin/python -m bench.training           # tiny + tutorial-gru1024, ~10 minutes
    .venv/bin/python -m bench.training --quick   # tiny only, one repeat

Characters/s count training only (validation excluded) and leave out the first epoch (tracing,
compilation). Writes bench/results/training.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from bench.lib.common import (
    REPO,
    machine_info,
    machine_line,
    markdown_table,
    print_machine,
    target_line,
    targets_markdown,
    write_results,
)

WORKER = "bench.lib.training_worker"  # run as a module from the repo root
# (config, steps per epoch, epochs): short but warm runs; epoch 1 is the warm-up.
PLANS = {"tiny": ("tiny", 60, 4), "tutorial-gru1024": ("tutorial-gru1024", 4, 3)}
RUNS = (("plain", 1), ("charloom", 1), ("charloom", 2))


def run_worker(mode: str, replicas: int, config: str, steps: int, epochs: int) -> dict:
    command = [
        sys.executable,
        "-m",
        WORKER,
        "--mode",
        mode,
        "--replicas",
        str(replicas),
        "--config",
        config,
        "--steps",
        str(steps),
        "--epochs",
        str(epochs),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=1800)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def warm_chars_per_sec(result: dict) -> float:
    return statistics.median(result["chars_per_sec"][1:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--configs", nargs="+", default=list(PLANS), choices=list(PLANS))
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    configs = ["tiny"] if args.quick else args.configs
    repeats = 1 if args.quick else args.repeats
    info = machine_info()
    print_machine(info)
    measured: dict[str, dict[str, list[dict]]] = {}
    for name in configs:
        config, steps, epochs = PLANS[name]
        measured[name] = {f"{m}-{r}": [] for m, r in RUNS}
        for repeat in range(repeats):  # interleaved, so slow drifts in load hit every system alike
            for mode, replicas in RUNS:
                result = run_worker(mode, replicas, config, steps, epochs)
                measured[name][f"{mode}-{replicas}"].append(result)
                print(
                    f"{name} {mode} x{replicas} (repeat {repeat + 1}): warm chars/s "
                    f"{warm_chars_per_sec(result):,.0f}, epochs {result['epoch_seconds']}",
                    flush=True,
                )

    rows, targets, summary = [], [], {}
    for name, by_run in measured.items():
        speed = {
            key: statistics.median(warm_chars_per_sec(r) for r in runs)
            for key, runs in by_run.items()
        }
        summary[name] = speed
        plain = speed["plain-1"]
        for key, label in (
            ("plain-1", "plain `model.fit` (no strategy, no callbacks)"),
            ("charloom-1", "`charloom train`, 1 replica"),
            ("charloom-2", "`charloom train`, 2 logical replicas"),
        ):
            epoch_wall = statistics.median(
                statistics.median(r["epoch_seconds"][1:]) for r in by_run[key]
            )
            rows.append(
                (
                    name,
                    label,
                    f"{speed[key]:,.0f}",
                    f"{speed[key] / plain:.2f}",
                    f"{epoch_wall:.1f}",
                )
            )
        overhead = 1 - speed["charloom-1"] / plain
        targets.append(
            target_line(
                f"`{name}`: cost of charloom's pipeline + strategy + callbacks vs plain fit",
                overhead * 100,
                10,
                higher_is_better=False,
                unit="%",
            )
        )
    markdown = "\n".join(
        [
            f"Machine: {machine_line(info)}",
            "",
            "Warm training characters/s (median over epochs 2+, validation excluded; median of "
            f"{repeats} interleaved runs); plans: "
            + ", ".join(f"`{n}` {PLANS[n][1]} steps x {PLANS[n][2]} epochs" for n in configs)
            + ".",
            "",
            markdown_table(
                ("config", "system", "chars/s", "vs plain", "s/epoch (with validation)"), rows
            ),
            "",
            "Targets:",
            "",
            targets_markdown(targets),
        ]
    )
    results = {
        "machine": info,
        "quick": args.quick,
        "repeats": repeats,
        "plans": {n: PLANS[n] for n in configs},
        "runs": measured,
        "chars_per_sec": summary,
        "targets": targets,
    }
    write_results("training", results, markdown, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
