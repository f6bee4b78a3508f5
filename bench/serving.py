"""Serving benchmark: 500 characters from one exported model, five ways, in one run.

    .venv/bin/python -m bench.serving            # ~4 minutes on a quiet machine; --quick for a sanity run
    .venv/bin/python -m bench.serving --checkpoint runs/NAME   # trained weights instead of random

(1) the TF tutorial's eager Keras loop, (2) the SavedModel's serving_default called in process
(and its `sample` signature, 16 characters per call), (3) the gRPC client against `charloom
serve` (16 characters per Predict call, and one), (4) N concurrent streams with batching on and off,
(5) a 1,000-character prompt by one prefill RPC vs one step RPC per character, with the floor of
1,000 sequential matrix-vector products. Writes bench/results/serving.{json,md}.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.lib.common import (
    free_port,
    machine_info,
    machine_line,
    markdown_table,
    print_machine,
    target_line,
    targets_markdown,
    write_results,
)
from bench.lib.grpc_floor import round_trip_ms
from bench.lib.serving_model import (
    BenchModel,
    TutorialLoop,
    matvec_floor_numpy,
    matvec_floor_tf,
    prepare_model,
    recurrent_kernel,
)
from bench.lib.serving_streams import ServerProcess, run_streams
from serving import defaults
from serving.contract import PREFILL_WIDTH, STEP

PROMPT = "ROMEO:"
# The deployed batching parameters (k8s/ ships them to TF Serving): what "batching" rows run with.
BATCHING_FILE = ("--batching-parameters-file", "k8s/base/serving/config/batching.config")
BLOCK = defaults.STEPS_PER_CALL  # characters per `sample` call (the client's default)
THROUGHPUT_FLAGS = (
    "--num-batch-threads",
    "1",
    "--max-batch-size",
    "32",
    "--batch-timeout-micros",
    "20000",
)


def per_char_ms_of_stream(generator, steps: int, seed: int) -> float:
    """Milliseconds per character after the first chunk (prefill excluded), from chunk timestamps."""
    stamps = [
        (time.perf_counter(), len(c.text))
        for c in generator.stream(PROMPT, max_new_tokens=steps, seed=seed)
    ]
    return (stamps[-1][0] - stamps[0][0]) * 1000 / sum(n for _, n in stamps[1:])


def median_of(runs: int, measure) -> tuple[float, list[float]]:
    values = [measure(i) for i in range(runs)]
    return statistics.median(values), values


def measure_tutorial(bench_model: BenchModel, steps: int, runs: int, compiled: bool) -> dict:
    loop = TutorialLoop(bench_model, compiled=compiled)
    loop.generate(0, 20)  # warm: traces / first-call costs
    first_id = int(bench_model.vocabulary.encode(PROMPT[-1])[0])
    ms, values = median_of(
        runs, lambda i: sum(loop.generate(first_id, steps, seed=i)[1]) * 1000 / steps
    )
    return {"ms_per_char": ms, "runs_ms": values}


def measure_generator(generator, steps: int, runs: int) -> dict:
    generator.generate(PROMPT, max_new_tokens=20, seed=0)  # warm: connect, learn, first calls
    ms, values = median_of(runs, lambda i: per_char_ms_of_stream(generator, steps, seed=i))
    return {"ms_per_char": ms, "runs_ms": values}


def measure_prompt(backend, bench_model: BenchModel, length: int, runs: int) -> dict:
    """A ``length``-character prompt through `prefill` (one call per PREFILL_WIDTH-token chunk) vs
    ``length`` step calls."""
    from serving.client.generation import prefill_prompts

    encoded = bench_model.vocabulary.encode(bench_model.corpus_text[:length])
    ids = encoded.reshape(1, -1)
    prefill_prompts(backend, [encoded])  # warm

    def prefill_once(_: int) -> float:
        started = time.perf_counter()
        prefill_prompts(backend, [encoded])
        return time.perf_counter() - started

    def per_char_once(_: int) -> float:
        _, states = prefill_prompts(backend, [encoded[:1]])
        started = time.perf_counter()
        for position in range(1, length):
            _, states = backend.step(ids[:, position : position + 1], states)
        return (time.perf_counter() - started) * length / (length - 1)

    prefill_s, prefill_runs = median_of(runs, prefill_once)
    per_char_s, per_char_runs = median_of(max(1, runs - 1), per_char_once)
    return {
        "prompt_chars": length,
        "prefill_s": prefill_s,
        "prefill_runs_s": prefill_runs,
        "per_char_s": per_char_s,
        "per_char_runs_s": per_char_runs,
    }


def measure_batch_ceiling(backend, sizes: tuple[int, ...], runs: int) -> list[dict]:
    """In-process `sample` calls of BLOCK characters for batches of ``sizes`` rows: the chars/s a
    batching server could reach with no RPC, Python or client cost at all (the ceiling of (4))."""
    import numpy as np

    from serving.client.generation import prefill_prompts
    from serving.client.sampling import SamplingParams

    out = []
    for rows in sizes:
        ids = np.ones((rows, 1), np.int32)
        _, states = prefill_prompts(backend, [ids[0]] * rows)
        uniforms = np.full((rows, BLOCK), 0.5)
        backend.sample(ids, states, uniforms, SamplingParams())  # warm

        def once(_: int, ids=ids, states=states, uniforms=uniforms) -> float:
            started = time.perf_counter()
            backend.sample(ids, states, uniforms, SamplingParams())
            return time.perf_counter() - started

        seconds, values = median_of(max(3, runs), once)
        out.append(
            {"rows": rows, "ms_per_call": seconds * 1000, "chars_per_sec": rows * BLOCK / seconds}
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="short sanity run (fewer chars, streams, runs)"
    )
    parser.add_argument(
        "--checkpoint", type=Path, help="a run or checkpoint to serve instead of random weights"
    )
    parser.add_argument(
        "--config", default="tutorial-gru1024", help="architecture for random weights"
    )
    parser.add_argument("--client-processes", type=int, default=2)
    args = parser.parse_args()
    steps = 100 if args.quick else 500
    runs = 1 if args.quick else 3
    stream_counts = (1, 8) if args.quick else (1, 8, 32, 64)
    prompt_length = 200 if args.quick else 1000

    info = machine_info()
    print_machine(info)
    results: dict = {"machine": info, "chars": steps, "runs": runs, "quick": args.quick}
    with tempfile.TemporaryDirectory(prefix="charloom-bench-serving-") as tmp:
        bench_model = prepare_model(Path(tmp) / "models", args.config, args.checkpoint)
        results["model"] = {
            "config": bench_model.config.to_dict(),
            "weights": bench_model.weights,
            "vocabulary": bench_model.vocabulary.size,
        }
        print(
            f"model: {bench_model.config.cell} {list(bench_model.config.units)}, embedding "
            f"{bench_model.config.embedding_dim}, {bench_model.weights} -> {bench_model.saved_model_dir}",
            flush=True,
        )

        results["tutorial_eager"] = measure_tutorial(bench_model, steps, runs, compiled=False)
        print("(1) tutorial eager", results["tutorial_eager"], flush=True)
        results["tutorial_tf_function"] = measure_tutorial(bench_model, steps, runs, compiled=True)
        print("(1b) tutorial tf.function", results["tutorial_tf_function"], flush=True)

        from serving.client.generator import GenerationClient, TextGenerator

        local = TextGenerator.from_saved_model(bench_model.saved_model_dir, steps_per_call=1)
        results["in_process_signature"] = measure_generator(local, steps, runs)
        print("(2) in-process signature", results["in_process_signature"], flush=True)
        local_sample = TextGenerator(local.backend, steps_per_call=BLOCK)
        results["in_process_sample"] = measure_generator(local_sample, steps, runs)
        print("(2b) in-process sample signature", results["in_process_sample"], flush=True)
        results["batch_ceiling"] = measure_batch_ceiling(local.backend, (1, 8, 32, 64), runs)
        print("(4c) in-process batch ceiling", results["batch_ceiling"], flush=True)
        results["prompt_in_process"] = measure_prompt(
            local.backend, bench_model, prompt_length, runs
        )
        print("(5b) prompt in process", results["prompt_in_process"], flush=True)
        local.close()

        kernel = recurrent_kernel(bench_model)
        results["matvec_floor_s"] = statistics.median(
            matvec_floor_tf(kernel, prompt_length) for _ in range(3)
        )
        results["matvec_floor_numpy_s"] = statistics.median(
            matvec_floor_numpy(kernel, prompt_length) for _ in range(3)
        )
        print(
            "(5c) matvec floor",
            results["matvec_floor_s"],
            results["matvec_floor_numpy_s"],
            flush=True,
        )

        results["grpc_round_trip_ms"] = round_trip_ms(
            free_port(), calls=500 if args.quick else 2000
        )
        print("(3a) bare gRPC round trip", results["grpc_round_trip_ms"], flush=True)
        base = bench_model.saved_model_dir.parent
        streams: dict[str, list[dict]] = {}
        for label, batching, flags, counts in (
            ("no_batching", False, (), stream_counts),
            ("batching", True, BATCHING_FILE, stream_counts),
            # One model call at a time: on 2 cores, two concurrent batches only halve each other.
            (
                "batching_1_thread",
                True,
                (*BATCHING_FILE, "--num-batch-threads", "1"),
                [n for n in stream_counts if n >= 8],
            ),
            # Tuned for throughput: a batch waits (up to 20 ms) until 32 rows are there, so the
            # streams do not settle into two alternating half-size batches; a lone stream pays
            # the wait on every call.
            (
                "batching_full",
                True,
                (*BATCHING_FILE, *THROUGHPUT_FLAGS),
                [n for n in stream_counts if n != 8],
            ),
        ):
            with ServerProcess(base, batching, flags) as server:
                if label == "no_batching":
                    # (3) from a fresh client process, like the streams (this one holds TensorFlow).
                    for key, per_call in (
                        ("grpc_one_stream", BLOCK),
                        ("grpc_one_stream_per_step", 1),
                    ):
                        one = [
                            run_streams(server, 1, steps, PROMPT, 1, per_call).mean_ms
                            for _ in range(runs)
                        ]
                        results[key] = {
                            "ms_per_char": statistics.median(one),
                            "runs_ms": one,
                            "steps_per_call": per_call,
                        }
                        print(f"(3) gRPC one stream, {per_call}/call", results[key], flush=True)
                    with GenerationClient(server.target, timeout=60) as client:
                        results["prompt_grpc"] = measure_prompt(
                            client.backend, bench_model, prompt_length, runs
                        )
                        print("(5) prompt over gRPC", results["prompt_grpc"], flush=True)
                streams[label] = []
                for n in counts:
                    result = run_streams(server, n, steps, PROMPT, args.client_processes, BLOCK)
                    streams[label].append(vars(result))
                    print(f"(4) {label} {n} streams:", vars(result), flush=True)
        results["streams"] = streams
    results["machine_end_load"] = info["load_average"]
    targets = compute_targets(results)
    results["targets"] = targets
    write_results("serving", results, render(results, targets), quick=args.quick)
    return 0


def compute_targets(r: dict) -> list[dict]:
    t1, t2, t2b, t3 = (
        r[k]["ms_per_char"]
        for k in ("tutorial_eager", "in_process_signature", "in_process_sample", "grpc_one_stream")
    )
    # The faster of the two one-stream figures (batching adds its timeout to a lone stream).
    one = max(
        (
            s
            for label in ("batching", "no_batching")
            for s in r["streams"][label]
            if s["streams"] == 1
        ),
        key=lambda s: s["chars_per_sec"],
    )
    targets = [
        target_line("(3) gRPC vs (1) tutorial eager, speed-up per character", t1 / t3, 8),
        target_line(
            f"(3) gRPC / (2) in-process {STEP}, time per character",
            t3 / t2,
            1.5,
            higher_is_better=False,
        ),
        target_line(
            f"(3) gRPC / (2b) in-process `sample` (same {BLOCK} per call), time per character",
            t3 / t2b,
            1.5,
            higher_is_better=False,
        ),
        target_line(
            "(5) prefill vs per-character feeding, speed-up",
            r["prompt_grpc"]["per_char_s"] / r["prompt_grpc"]["prefill_s"],
            5,
        ),
    ]
    at32 = [
        s
        for label in ("batching", "batching_1_thread", "batching_full")
        for s in r["streams"].get(label, [])
        if s["streams"] == 32
    ]
    if at32:
        best = max(s["chars_per_sec"] for s in at32)
        targets.insert(
            2,
            target_line(
                "(4) 32 streams with batching (best setting), aggregate chars/s vs the "
                "best single stream",
                best / one["chars_per_sec"],
                10,
            ),
        )
    return targets


def render(r: dict, targets: list[dict]) -> str:
    steps = r["chars"]
    rows = []
    for key, label in (
        ("tutorial_eager", "(1) TF tutorial: Keras model called eagerly per character"),
        ("tutorial_tf_function", "(1b) same step in tf.function (the tutorial's OneStep)"),
        (
            "in_process_signature",
            "(2) SavedModel `serving_default` in process, one call per character, sampled in numpy",
        ),
        ("in_process_sample", f"(2b) SavedModel `sample` in process, {BLOCK} characters per call"),
        (
            "grpc_one_stream",
            f"(3) gRPC client -> `charloom serve`, one stream, {BLOCK} characters "
            "per Predict (`sample`; the client's default)",
        ),
        (
            "grpc_one_stream_per_step",
            "(3s) the same, one character per Predict (`serving_default`, `--steps-per-call 1`)",
        ),
    ):
        ms = r[key]["ms_per_char"]
        rows.append(
            (
                label,
                f"{ms:.2f}",
                f"{1000 / ms:,.0f}",
                f"{r['tutorial_eager']['ms_per_char'] / ms:.1f}x",
            )
        )
    rows.insert(
        4,
        (
            "(3a) floor of (3s): bare Python gRPC unary round trip on loopback, ~4.4 KB each way, "
            "no model",
            f"{r['grpc_round_trip_ms']:.2f}",
            "",
            "",
        ),
    )
    model = r["model"]["config"]
    out = [
        f"Model: {model['cell'].upper()} {model['units']}, embedding {model['embedding_dim']}, "
        f"vocabulary {r['model']['vocabulary']}, weights {r['model']['weights']}; {steps} characters "
        f"per generation, median of {r['runs']} runs.",
        "",
        f"Machine: {machine_line(r['machine'])}",
        "",
        markdown_table(("one stream", "ms/char", "chars/s", "vs (1)"), rows),
        "",
    ]
    stream_rows = []
    base = max(
        s["chars_per_sec"]
        for label in ("no_batching", "batching")
        for s in r["streams"][label]
        if s["streams"] == 1
    )
    names = {
        "no_batching": "no batching",
        "batching": "batching (k8s/'s batching.config: 64 rows, 2 ms, 2 batch threads)",
        "batching_1_thread": "batching, `--num-batch-threads 1`",
        "batching_full": "batching for throughput: `" + " ".join(THROUGHPUT_FLAGS) + "`",
    }
    for label in ("no_batching", "batching", "batching_1_thread", "batching_full"):
        for s in r["streams"].get(label, []):
            mean_batch = "" if s["mean_batch_size"] is None else f"{s['mean_batch_size']:.1f}"
            stream_rows.append(
                (
                    names[label],
                    s["streams"],
                    f"{s['chars_per_sec']:,.0f}",
                    f"{s['chars_per_sec'] / base:.1f}x",
                    f"{s['p50_ms']:.2f}",
                    f"{s['p99_ms']:.2f}",
                    f"{s['chunk_p50_ms']:.1f}",
                    f"{s['chunk_p99_ms']:.1f}",
                    mean_batch,
                )
            )
    out += [
        f"(4) concurrent streams through one server (clients in 2 processes, {BLOCK} characters per "
        "Predict; ms/char = gap between chunks / characters in the chunk; a chunk is one call's "
        "characters, so the chunk gap is what a reader waits):",
        "",
        markdown_table(
            (
                "server",
                "streams",
                "chars/s",
                "vs best 1 stream",
                "p50 ms/char",
                "p99 ms/char",
                "p50 chunk ms",
                "p99 chunk ms",
                "mean batch",
            ),
            stream_rows,
        ),
        "",
    ]
    ceiling = r["batch_ceiling"]
    one_row = ceiling[0]["chars_per_sec"]
    out += [
        f"(4c) the ceiling of (4): the model's `sample` signature ({BLOCK} characters) called in process "
        "on a batch of N rows, no RPC and no client; vs the same call on 1 row:",
        "",
        markdown_table(
            ("rows", "ms per call", "chars/s", "vs 1 row"),
            [
                (
                    c["rows"],
                    f"{c['ms_per_call']:.1f}",
                    f"{c['chars_per_sec']:,.0f}",
                    f"{c['chars_per_sec'] / one_row:.1f}x",
                )
                for c in ceiling
            ],
        ),
        "",
    ]
    g, p, floor = r["prompt_grpc"], r["prompt_in_process"], r["matvec_floor_s"]
    n = g["prompt_chars"]
    out += [
        f"(5) a {n}-character prompt:",
        "",
        markdown_table(
            ("how", "seconds", "ms/char"),
            [
                (
                    f"`prefill` RPCs, {PREFILL_WIDTH} characters each ({-(-n // PREFILL_WIDTH)} calls)",
                    f"{g['prefill_s']:.3f}",
                    f"{g['prefill_s'] * 1000 / n:.3f}",
                ),
                (
                    f"{n} `serving_default` RPCs, one per character",
                    f"{g['per_char_s']:.3f}",
                    f"{g['per_char_s'] * 1000 / n:.3f}",
                ),
                (
                    f"`prefill` in process ({-(-n // PREFILL_WIDTH)} calls)",
                    f"{p['prefill_s']:.3f}",
                    f"{p['prefill_s'] * 1000 / n:.3f}",
                ),
                (
                    f"{n} `serving_default` calls in process",
                    f"{p['per_char_s']:.3f}",
                    f"{p['per_char_s'] * 1000 / n:.3f}",
                ),
                (
                    f"floor: {n} sequential tanh(h @ W_recurrent), [1,{model['units'][0]}] x "
                    f"[{model['units'][0]},{3 * model['units'][0]}], in one TF while loop",
                    f"{floor:.3f}",
                    f"{floor * 1000 / n:.3f}",
                ),
                (
                    "the same in a numpy loop",
                    f"{r['matvec_floor_numpy_s']:.3f}",
                    f"{r['matvec_floor_numpy_s'] * 1000 / n:.3f}",
                ),
            ],
        ),
        "",
        "Targets:",
        "",
        targets_markdown(targets),
    ]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
