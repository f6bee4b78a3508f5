"""Training knobs on this machine's CPU: what makes the same GRU/LSTM train faster, or learn more
per second, without changing the model.

    .venv/bin/python -m bench.training_knobs            # ~15 minutes
    .venv/bin/python -m bench.training_knobs --quick    # ~4 minutes, shorter quality runs

Speed: warm training characters/s of the same model (embedding 64, one 384-unit layer, batch 64 x
100, Adam) with one knob changed at a time: XLA (`jit_compile`), mixed precision, larger batches,
one thread.
Quality: bits per character on the whole validation split after the same wall-clock training
time, for the learning-rate-scaled larger batch and for truncated BPTT (states carried across
consecutive batches) against charloom's recipe. Every measurement runs in its own process
(bench/lib/knobs_worker.py). cuDNN needs a GPU: not measurable here; mixed precision is measured
on this CPU, which has no float16 arithmetic, so its GPU speed-up is not (see the notes). Writes
bench/results/training_knobs.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from bench.lib.common import (
    REPO,
    machine_info,
    machine_line,
    markdown_table,
    print_machine,
    write_results,
)

WORKER = "bench.lib.knobs_worker"
SPEED = [  # (label, cell, worker flags)
    ("GRU, batch 64 (charloom's default)", "gru", []),
    ("GRU + `jit_compile` (XLA)", "gru", ["--jit"]),
    ("GRU + `mixed_precision` (float16 compute, float32 weights)", "gru", ["--mixed-precision"]),
    ("GRU, batch 128", "gru", ["--batch", "128"]),
    ("GRU, batch 256", "gru", ["--batch", "256"]),
    ("GRU, one thread (what each of two parallel trials gets)", "gru", ["--threads", "1"]),
    ("LSTM, batch 64", "lstm", []),
    ("LSTM + `jit_compile` (XLA)", "lstm", ["--jit"]),
    ("LSTM + `mixed_precision` (float16 compute, float32 weights)", "lstm", ["--mixed-precision"]),
]
QUALITY = [  # (label, worker flags)
    ("states reset every batch, batch 64, lr 0.003 (charloom's recipe)", ["--lr", "0.003"]),
    ("batch 128, lr 0.006 (scaled with the batch)", ["--batch", "128", "--lr", "0.006"]),
    (
        "truncated BPTT: states carried across batches, batch 64, lr 0.003",
        ["--lr", "0.003", "--carry-state"],
    ),
]


def run(what: str, flags: list[str]) -> dict:
    command = [sys.executable, "-m", WORKER, what, *flags]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=3600)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--seconds", type=float, default=150.0, help="training time of each quality run"
    )
    args = parser.parse_args()
    seconds = 45.0 if args.quick else args.seconds
    info = machine_info()
    print_machine(info)
    speed = []
    for label, cell, flags in SPEED:
        result = run("speed", ["--cell", cell, *flags])
        speed.append({"label": label, **result})
        print(f"{label}: {result['chars_per_sec']:,.0f} chars/s", flush=True)
    quality = []
    for label, flags in QUALITY:
        result = run("quality", ["--seconds", str(seconds), *flags])
        quality.append({"label": label, **result})
        print(f"{label}: val_bpc {result['val_bpc']:.3f} after {result['steps']} steps", flush=True)

    base = {}  # each cell's first row is its default
    for r in speed:
        base.setdefault(r["args"]["cell"], r["chars_per_sec"])
    speed_rows = [
        (
            r["label"],
            f"{r['chars_per_sec']:,.0f}",
            f"{r['chars_per_sec'] / base[r['args']['cell']]:.2f}",
        )
        for r in speed
    ]
    quality_rows = [
        (
            r["label"],
            f"{r['val_bpc']:.3f}",
            r["steps"],
            f"{r['epochs']:.2f}",
            f"{r['chars_per_sec']:,.0f}",
        )
        for r in quality
    ]
    markdown = "\n".join(
        [
            f"Machine: {machine_line(info)}",
            "",
            "Speed: warm training characters/s (median of epochs 2-4 of ~160k characters; one process "
            "each; embedding 64, one 384-unit layer, seq_len 100, Adam; 2 threads unless noted).",
            "",
            markdown_table(("configuration", "chars/s", "vs default"), speed_rows),
            "",
            f"Quality per second: val_bpc on the whole validation split (windows of 100 from zero states) "
            f"after {seconds:.0f} s of training, GRU 384.",
            "",
            markdown_table(("recipe", "val_bpc", "steps", "epochs", "chars/s"), quality_rows),
            "",
        ]
    )
    write_results(
        "training_knobs",
        {
            "machine": info,
            "quick": args.quick,
            "seconds": seconds,
            "speed": speed,
            "quality": quality,
        },
        markdown,
        quick=args.quick,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
