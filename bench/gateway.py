"""Generation gateway benchmark: streams through `charloom gateway` against the model's own
`sample` call in process, measured in the same run.

    .venv/bin/python -m bench.gateway            # ~5 minutes on 2 cores; --quick for a sanity run

The TF tutorial's GRU-1024 (random weights) is exported once. (1) In process: the SavedModel's
`sample` signature on 1, 8, 32 and 64 rows, 16 characters per call (the client's default): the
characters per second of the model alone. (2) `charloom serve --enable-batching` with k8s/'s
batching file, `charloom gateway` in front of it, and a client process sending 1, 8, 32 and 64
concurrent streamed completions of 300 characters. Per stream: time to first token, and its
decode rate (characters from first to last / the time between them); per level: the aggregate
characters per second (all characters / first request to last character), and the slowest
stream's rate against the median's. Writes bench/results/gateway.{json,md}.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

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
from bench.lib.gateway_streams import GatewayProcess, run_gateway_streams
from bench.lib.serving_model import prepare_model
from bench.lib.serving_streams import ServerProcess
from bench.serving import measure_batch_ceiling
from serving.gateway.config import GatewayConfig

LEVELS = (1, 8, 32, 64)
TOKENS = 300
PROMPT = "ROMEO:"
BATCHING_FILE = REPO / "k8s" / "base" / "serving" / "config" / "batching.config"


def summarize(streams: list[dict]) -> dict:
    """Aggregate and per-stream figures of one level's run."""
    start = min(s["started"] for s in streams)
    end = max(s["last"] for s in streams)
    rates = [(s["chars"] - 1) / (s["last"] - s["first"]) for s in streams if s["last"] > s["first"]]
    return {
        "streams": len(streams),
        "chars": sum(s["chars"] for s in streams),
        "aggregate_chars_per_sec": sum(s["chars"] for s in streams) / (end - start),
        "ttft_ms_median": statistics.median((s["first"] - s["started"]) * 1000 for s in streams),
        "decode_chars_per_sec_median": statistics.median(rates) if rates else 0.0,
        "decode_chars_per_sec_slowest": min(rates) if rates else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run per level, fewer levels")
    parser.add_argument("--runs", type=int, default=3, help="runs per level (the median is kept)")
    parser.add_argument("--config", default="tutorial-gru1024")
    parser.add_argument(
        "--steps-per-call",
        type=int,
        default=GatewayConfig.steps_per_call,
        help="the gateway's tokens per sample call (its default: %(default)s)",
    )
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    levels = (1, 8) if args.quick else LEVELS
    info = machine_info()
    print_machine(info)
    results: dict = {"machine": info, "quick": args.quick, "tokens": TOKENS, "levels": {}}
    with tempfile.TemporaryDirectory(prefix="charloom-bench-gateway-") as tmp:
        model = prepare_model(Path(tmp) / "models", args.config)
        results["model"] = {"config": model.config.to_dict(), "vocabulary": model.vocabulary.size}
        from serving.client.local_backend import LocalBackend

        backend = LocalBackend(model.saved_model_dir)
        results["in_process"] = measure_batch_ceiling(backend, levels, runs=5)
        backend.close()
        print("in process:", results["in_process"], flush=True)
        flags = ("--batching-parameters-file", str(BATCHING_FILE))
        with (
            ServerProcess(model.saved_model_dir.parent, True, flags) as server,
            GatewayProcess(server.target) as gateway,
        ):
            run_gateway_streams(gateway.url, 2, 40, PROMPT)  # warm both processes
            for level in levels:
                measured = [
                    summarize(run_gateway_streams(gateway.url, level, TOKENS, PROMPT))
                    for _ in range(runs)
                ]
                ordered = sorted(measured, key=lambda m: m["aggregate_chars_per_sec"])
                best = {**ordered[(len(ordered) - 1) // 2], "runs": measured}  # the (lower) median
                results["levels"][str(level)] = best
                print(f"{level} streams: {best}", flush=True)
    targets = compute_targets(results)
    results["targets"] = targets
    write_results("gateway", results, render(results, targets), quick=args.quick)
    return 0


def _in_process(results: dict, rows: int) -> float:
    return next(r["chars_per_sec"] for r in results["in_process"] if r["rows"] == rows)


def compute_targets(r: dict) -> list[dict]:
    targets = []
    levels = r["levels"]
    if "32" in levels:
        ratio = levels["32"]["aggregate_chars_per_sec"] / _in_process(r, 32)
        targets.append(
            target_line("32 streams: aggregate chars/s vs the model alone on 32 rows", ratio, 0.75)
        )
        slowest = (
            levels["32"]["decode_chars_per_sec_slowest"]
            / levels["32"]["decode_chars_per_sec_median"]
        )
        targets.append(
            target_line("32 streams: slowest stream's chars/s vs the median stream's", slowest, 0.5)
        )
    if "1" in levels:
        ratio = levels["1"]["decode_chars_per_sec_median"] / _in_process(r, 1)
        targets.append(
            target_line("one stream: decode chars/s vs the model alone on 1 row", ratio, 0.8)
        )
    return targets


def render(r: dict, targets: list[dict]) -> str:
    rows = []
    for level, m in r["levels"].items():
        alone = _in_process(r, int(level))
        rows.append(
            [
                level,
                f"{alone:,.0f}",
                f"{m['aggregate_chars_per_sec']:,.0f}",
                f"{m['aggregate_chars_per_sec'] / alone:.2f}",
                f"{m['ttft_ms_median']:.0f}",
                f"{m['decode_chars_per_sec_median']:,.0f}",
                f"{m['decode_chars_per_sec_slowest']:,.0f}",
            ]
        )
    model = r["model"]["config"]
    return "\n".join(
        [
            f"Model: {model['cell'].upper()} {model['units']}, embedding {model['embedding_dim']}, "
            f"vocabulary {r['model']['vocabulary']}, random weights. Streams of {r['tokens']} "
            "characters through `charloom gateway` -> `charloom serve --enable-batching` (k8s/'s "
            "batching file), one client process; the in-process figure is the model's `sample` "
            "signature on as many rows, 16 characters per call, measured in the same run.",
            "",
            f"Machine: {machine_line(r['machine'])}",
            "",
            markdown_table(
                (
                    "streams",
                    "in process chars/s",
                    "gateway chars/s",
                    "ratio",
                    "TTFT ms (median)",
                    "stream decode chars/s (median)",
                    "slowest stream chars/s",
                ),
                rows,
            ),
            "",
            targets_markdown(targets),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
