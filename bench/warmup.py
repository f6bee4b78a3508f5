"""Model warmup benchmark: first-request latency of a fresh `charloom serve` with and without it.

    .venv/bin/python -m bench.warmup            # ~3 minutes; --quick for a sanity run

The tutorial's GRU-1024 (random weights) is exported once (the exporter writes the warmup
records); then, several times each way, a server process is started with
``--enable-model-warmup true`` or ``false`` and, as soon as it reports SERVING, each signature
the client uses is called twice over gRPC (one row, as the client's first text does): the first
call against the second is what a new pod or a hot-swapped version costs its first client. Also
records how long the server took to become SERVING (the warmup's price). Writes
bench/results/warmup.{json,md}.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.lib.common import (
    machine_info,
    machine_line,
    markdown_table,
    print_machine,
    write_results,
)
from bench.lib.serving_model import prepare_model
from bench.lib.serving_streams import ServerProcess


def call_twice(
    target: str, state_units: dict[str, int], vocab_size: int
) -> dict[str, tuple[float, float]]:
    """Milliseconds of the first and second Predict of each signature on a fresh server."""
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from serving import defaults
    from serving.signature_inputs import example_inputs
    from serving.tensors import to_tensor_proto

    inputs = example_inputs(state_units, vocab_size)

    out = {}
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        grpc.channel_ready_future(channel).result(timeout=30)
        for signature in inputs:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = defaults.MODEL_NAME
            request.model_spec.signature_name = signature
            for name, value in inputs[signature].items():
                request.inputs[name].CopyFrom(to_tensor_proto(value))
            times = []
            for _ in range(2):
                started = time.perf_counter()
                stub.Predict(request, timeout=120)
                times.append((time.perf_counter() - started) * 1000)
            out[signature] = (times[0], times[1])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one start each way")
    parser.add_argument("--config", default="tutorial-gru1024")
    args = parser.parse_args()
    starts = 1 if args.quick else 3
    info = machine_info()
    print_machine(info)

    results: dict = {
        "machine": info,
        "starts": starts,
        "quick": args.quick,
        "runs": {"true": [], "false": []},
    }
    with tempfile.TemporaryDirectory(prefix="charloom-bench-warmup-") as tmp:
        model = prepare_model(Path(tmp) / "models", args.config)
        results["model"] = {"config": model.config.to_dict(), "vocabulary": model.vocabulary.size}
        from trainer.model import state_names

        state_units = dict(state_names(model.config))
        for _ in range(starts):
            for warmup in ("false", "true"):  # interleaved, so machine noise hits both alike
                started = time.perf_counter()
                with ServerProcess(
                    model.saved_model_dir.parent, False, ("--enable-model-warmup", warmup)
                ) as server:
                    ready_s = time.perf_counter() - started
                    calls = call_twice(server.target, state_units, model.vocabulary.size)
                results["runs"][warmup].append({"ready_s": ready_s, "calls_ms": calls})
                print(f"warmup {warmup}: ready in {ready_s:.2f}s, calls {calls}", flush=True)
    write_results("warmup", results, render(results), quick=args.quick)
    return 0


def render(r: dict) -> str:
    rows = []
    for signature in sorted(r["runs"]["true"][0]["calls_ms"]):
        row = [f"`{signature}`"]
        for warmup in ("false", "true"):
            first = statistics.median(run["calls_ms"][signature][0] for run in r["runs"][warmup])
            second = statistics.median(run["calls_ms"][signature][1] for run in r["runs"][warmup])
            row += [f"{first:.1f}", f"{second:.1f}"]
        rows.append(row)
    ready = {
        w: statistics.median(run["ready_s"] for run in r["runs"][w]) for w in ("false", "true")
    }
    model = r["model"]["config"]
    return "\n".join(
        [
            f"Model: {model['cell'].upper()} {model['units']}, embedding {model['embedding_dim']}, vocabulary "
            f"{r['model']['vocabulary']}, random weights; median of {r['starts']} server starts each way "
            "(interleaved), one row per call.",
            "",
            f"Machine: {machine_line(r['machine'])}",
            "",
            markdown_table(
                (
                    "signature",
                    "first call ms, no warmup",
                    "second call ms, no warmup",
                    "first call ms, warmup",
                    "second call ms, warmup",
                ),
                rows,
            ),
            "",
            f"Server start to SERVING (process start, TensorFlow import, load, and the replay when on): "
            f"{ready['false']:.1f} s without warmup, {ready['true']:.1f} s with it.",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
