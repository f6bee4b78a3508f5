"""Two checkouts of charloom, one gRPC stream each, interleaved: did a change make serving slower?

    .venv/bin/python -m bench.checkouts --before /path/to/old --after . --pairs 8   # ~10 minutes

On this shared machine one run's figure can move by a third between minutes, so the two
checkouts run in alternation (before, after, before, after...) and what counts is the median of
the per-pair ratios. Each side exports, serves and generates with its own code
(bench/lib/stream_worker.py): 500 characters after "ROMEO:", 16 per Predict and 1 per Predict.
Writes bench/results/checkouts.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench.lib.common import (
    REPO,
    machine_info,
    machine_line,
    markdown_table,
    print_machine,
    write_results,
)

WORKER = REPO / "bench" / "lib" / "stream_worker.py"


def run_side(root: Path, runs: int) -> dict[str, list[float]]:
    result = subprocess.run(
        [sys.executable, str(WORKER), str(root), str(runs)],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "PYTHONPATH": str(root), "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    if result.returncode != 0:
        raise SystemExit(f"{root}: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, default=REPO)
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--runs", type=int, default=2, help="streams per side per pair")
    parser.add_argument("--label", default="", help="what the two checkouts are, for the table")
    args = parser.parse_args()
    info = machine_info()
    print_machine(info)
    pairs = []
    for index in range(args.pairs):
        before, after = (
            run_side(args.before.resolve(), args.runs),
            run_side(args.after.resolve(), args.runs),
        )
        pairs.append({"before": before, "after": after})
        print(f"pair {index + 1}: before {before} after {after}", flush=True)
    results = {"machine": info, "label": args.label, "pairs": pairs, "runs": args.runs}
    write_results("checkouts", results, render(results))
    return 0


def render(r: dict) -> str:
    rows = []
    for per_call in ("16", "1"):
        before = [statistics.mean(p["before"][per_call]) for p in r["pairs"]]
        after = [statistics.mean(p["after"][per_call]) for p in r["pairs"]]
        ratios = [a / b for a, b in zip(after, before)]
        rows.append(
            (
                f"{per_call} per Predict",
                f"{statistics.median(before):.3f}",
                f"{statistics.median(after):.3f}",
                f"{statistics.median(ratios):.2f}",
                f"{min(ratios):.2f} - {max(ratios):.2f}",
            )
        )
    return "\n".join(
        [
            f"{r['label']}".strip(),
            "",
            f"Machine: {machine_line(r['machine'])}",
            "",
            f'One stream, 500 characters after "ROMEO:", TF tutorial\'s GRU-1024 (random weights); {len(r["pairs"])} '
            f"interleaved pairs of {r['runs']} streams per side:",
            "",
            markdown_table(
                (
                    "client -> charloom serve",
                    "before, ms/char (median of pairs)",
                    "after, ms/char",
                    "after / before (median of pair ratios)",
                    "range of pair ratios",
                ),
                rows,
            ),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
