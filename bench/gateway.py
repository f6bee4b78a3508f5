"""Generation gateway benchmark: streams through `charloom gateway` against the model's own
`sample` call in process, measured in the same run (interleaved).

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
IN_PROCESS_CALLS = 15  # sample calls per in-process measurement (the median is kept)
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


def median_run(measured: list[dict]) -> dict:
    """Each figure's median over the runs (ratios from each run's own pair), and the runs."""
    out = {
        key: statistics.median(m[key] for m in measured)
        for key, value in measured[0].items()
        if isinstance(value, float | int)
    }
    out["in_process_chars_per_sec"] = statistics.median(
        m["in_process"]["chars_per_sec"] for m in measured
    )
    out["aggregate_ratio"] = statistics.median(
        m["aggregate_chars_per_sec"] / m["in_process"]["chars_per_sec"] for m in measured
    )
    out["decode_ratio"] = statistics.median(
        m["decode_chars_per_sec_median"] / m["in_process"]["chars_per_sec"] for m in measured
    )
    out["slowest_ratio"] = statistics.median(
        m["decode_chars_per_sec_slowest"] / m["decode_chars_per_sec_median"] for m in measured
    )
    out["runs"] = measured
    return out


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
        flags = ("--batching-parameters-file", str(BATCHING_FILE))
        gateway_flags = ("--steps-per-call", str(args.steps_per_call))
        results["gateway_steps_per_call"] = args.steps_per_call
        with (
            ServerProcess(model.saved_model_dir.parent, True, flags) as server,
            GatewayProcess(server.target, gateway_flags) as gateway,
        ):
            run_gateway_streams(gateway.url, 2, 40, PROMPT)  # warm both processes
            for level in levels:
                measured = []
                for _ in range(runs):  # the model alone, then the gateway: pairs, interleaved
                    [alone] = measure_batch_ceiling(backend, (level,), runs=IN_PROCESS_CALLS)
                    streams = run_gateway_streams(gateway.url, level, TOKENS, PROMPT)
                    measured.append({**summarize(streams), "in_process": alone})
                results["levels"][str(level)] = median_run(measured)
                print(f"{level} streams: {results['levels'][str(level)]}", flush=True)
        backend.close()
    targets = compute_targets(results)
    results["targets"] = targets
    write_results("gateway", results, render(results, targets), quick=args.quick)
    return 0


def compute_targets(r: dict) -> list[dict]:
    targets = []
    levels = r["levels"]
    if "32" in levels:
        targets.append(
            target_line(
                "32 streams: aggregate chars/s vs the model alone on 32 rows",
                levels["32"]["aggregate_ratio"],
                0.75,
            )
        )
        targets.append(
            target_line(
                "32 streams: slowest stream's chars/s vs the median stream's",
                levels["32"]["slowest_ratio"],
                0.5,
            )
        )
    if "1" in levels:
        targets.append(
            target_line(
                "one stream: decode chars/s vs the model alone on 1 row",
                levels["1"]["decode_ratio"],
                0.8,
            )
        )
    return targets


def render(r: dict, targets: list[dict]) -> str:
    rows = []
    for level, m in r["levels"].items():
        rows.append(
            [
                level,
                f"{m['in_process_chars_per_sec']:,.0f}",
                f"{m['aggregate_chars_per_sec']:,.0f}",
                f"{m['aggregate_ratio']:.2f}",
                f"{m['ttft_ms_median']:.0f}",
                f"{m['decode_chars_per_sec_median']:,.0f}",
                f"{m['decode_ratio']:.2f}" if level == "1" else "-",
                f"{m['decode_chars_per_sec_slowest']:,.0f}",
            ]
        )
    model = r["model"]["config"]
    headers = (
        "streams",
        "model alone chars/s",
        "gateway chars/s",
        "ratio",
        "TTFT ms",
        "stream decode chars/s",
        "decode / alone",
        "slowest stream chars/s",
    )
    return "\n".join(
        [
            f"Model: {model['cell'].upper()} {model['units']}, embedding {model['embedding_dim']}, "
            f"vocabulary {r['model']['vocabulary']}, random weights. Streams of {r['tokens']} "
            f"characters through `charloom gateway` ({r['gateway_steps_per_call']} tokens per sample "
            "call) -> `charloom serve --enable-batching` (k8s/'s batching file), from one client "
            "process. *Model alone*: the SavedModel's `sample` signature in process on as many rows, "
            "16 characters per call, measured right before each gateway run (interleaved pairs; "
            "medians of the runs, each ratio from its own run's pair). *Stream decode*: a stream's "
            "characters from its first to its last, per second (median stream); TTFT: median time to "
            "first token.",
            "",
            f"Machine: {machine_line(r['machine'])}",
            "",
            markdown_table(headers, rows),
            "",
            targets_markdown(targets),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
