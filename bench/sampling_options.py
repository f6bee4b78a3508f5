"""What log-probabilities and penalties cost: chars/s of `sample` calls with each option.

    .venv/bin/python -m bench.sampling_options     # ~3 minutes; --quick for a sanity run

The tutorial's GRU-1024 (random weights) is exported and its `sample` signature called in
process, the way TF Serving runs it (Session, tensors by name), 16 characters per call, for 1
and for 32 rows, with: no option (the baseline: neutral penalties, no alternatives), logprobs 5,
logprobs 20, the penalties (repetition 1.2, frequency 0.5, presence 0.5, a logit bias, min-p
0.05), and all of them. The variants are interleaved, so machine noise hits them alike; each
figure is the median of the runs. The chosen token's log-probability and the penalties' count
bookkeeping are computed in every call (the signature's fixed cost); the table says what asking
for alternatives and setting penalties adds to that. Writes bench/results/sampling_options.*.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.lib.common import machine_info, markdown_table, print_machine, write_results
from bench.lib.serving_model import prepare_model
from serving import defaults

BLOCK = defaults.STEPS_PER_CALL
VARIANTS = {
    "baseline": {},
    "logprobs 5": {"logprobs": 5},
    "logprobs 20": {"logprobs": 20},
    "penalties": {
        "repetition_penalty": 1.2,
        "frequency_penalty": 0.5,
        "presence_penalty": 0.5,
        "min_p": 0.05,
        "bias": True,
    },
    "all": {
        "logprobs": 20,
        "repetition_penalty": 1.2,
        "frequency_penalty": 0.5,
        "presence_penalty": 0.5,
        "min_p": 0.05,
        "bias": True,
    },
}


def extras_of(variant: dict, rows: int, vocab_size: int):
    import numpy as np

    from serving.signature_inputs import extra_sample_inputs

    options = {k: v for k, v in variant.items() if k != "bias"}
    bias = None
    if variant.get("bias"):
        bias = np.zeros(vocab_size, np.float32)
        bias[:5] = 2.0
    counts = np.random.default_rng(0).integers(0, 3, (rows, vocab_size)).astype(np.int32)
    return extra_sample_inputs(rows, vocab_size, logit_bias=bias, output_counts=counts, **options)


def measure(backend, rows: int, runs: int) -> dict[str, float]:
    """chars/s of each variant for ``rows`` rows (median of ``runs`` interleaved calls)."""
    import numpy as np

    from serving.client.generation import prefill_prompts
    from serving.client.sampling import SamplingParams

    size = backend.signature.vocab_size
    ids = np.ones((rows, 1), np.int32)
    _, states = prefill_prompts(backend, [ids[0]] * rows)
    uniforms = np.full((rows, BLOCK), 0.5)
    params = SamplingParams(temperature=0.9)
    extras = {name: extras_of(v, rows, size) for name, v in VARIANTS.items()}
    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    wants = {name: "logprobs" in v for name, v in VARIANTS.items()}  # fetch them when asked
    for name in VARIANTS:  # warm every variant (its first call traces nothing, but allocates)
        backend.sample(ids, states, uniforms, params, extras[name], wants[name])
    for _ in range(runs):
        for name in VARIANTS:
            started = time.perf_counter()
            backend.sample(ids, states, uniforms, params, extras[name], wants[name])
            seconds[name].append(time.perf_counter() - started)
    return {name: rows * BLOCK / statistics.median(values) for name, values in seconds.items()}


def render(results: dict) -> str:
    lines = [
        f"`sample` calls of {BLOCK} characters in process (Session path), "
        f"{results['model']}, median of {results['runs']} interleaved runs; "
        f"{results['machine']['cpu_count']} x {results['machine']['cpu_model']}, {results['date']}.",
        "",
    ]
    table = []
    for rows, figures in results["chars_per_sec"].items():
        base = figures["baseline"]
        for name, value in figures.items():
            table.append([rows, name, value, value / base])
    lines.append(markdown_table(["rows", "options", "chars/s", "vs baseline"], table))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short sanity run")
    parser.add_argument("--config", default="tutorial-gru1024")
    args = parser.parse_args()
    runs = 3 if args.quick else 15
    info = machine_info()
    print_machine(info)
    from serving.client.local_backend import LocalBackend

    with tempfile.TemporaryDirectory(prefix="charloom-bench-sampling-") as tmp:
        model = prepare_model(Path(tmp) / "models", args.config)
        backend = LocalBackend(model.saved_model_dir)
        results = {
            "machine": info,
            "date": time.strftime("%Y-%m-%d"),
            "runs": runs,
            "model": f"{model.config.cell.upper()} {list(model.config.units)}, "
            f"vocabulary {model.vocabulary.size}",
            "chars_per_sec": {},
        }
        for rows in (1, 32):
            results["chars_per_sec"][rows] = measure(backend, rows, runs)
            print(rows, results["chars_per_sec"][rows], flush=True)
        backend.close()
    write_results("sampling_options", results, render(results), quick=args.quick)
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
