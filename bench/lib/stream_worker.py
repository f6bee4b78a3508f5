"""One gRPC stream against `charloom serve`, all of it from one checkout of charloom: a standalone script.

    PYTHONPATH=CHECKOUT python bench/lib/stream_worker.py CHECKOUT RUNS

Exports the TF tutorial's GRU-1024 (random weights, seed 0) with that checkout's exporter, serves it
with that checkout's `charloom serve` (no batching), and generates 500 characters after "ROMEO:"
RUNS times with that checkout's client, 16 characters per Predict and then 1. Prints one JSON line:
{"16": [ms per character, ...], "1": [...]}. It imports only what every layout of the project has
(trainer.config, trainer.model, trainer.vocabulary, trainer.export, trainer.corpus,
serving.client), so bench.checkouts can compare two checkouts of different layouts.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time


def main(root: str, runs: int) -> None:
    sys.path.insert(0, root)
    import keras

    from serving.client import GenerationClient
    from trainer.config import load_config
    from trainer.corpus import load_corpus
    from trainer.export import export_saved_model
    from trainer.model import build_model
    from trainer.vocabulary import Vocabulary

    vocabulary = Vocabulary.from_text(load_corpus("shakespeare").text)
    config = load_config("tutorial-gru1024")
    keras.utils.set_random_seed(0)
    path = export_saved_model(
        build_model(config, vocabulary.size),
        config,
        vocabulary,
        os.path.join(tempfile.mkdtemp(), "models"),
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "charloom",
            "serve",
            "--model-base-path",
            str(path.parent),
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--file-system-poll-wait-seconds",
            "0",
        ],
        cwd=root,
        env={**os.environ, "PYTHONPATH": root, "TF_CPP_MIN_LOG_LEVEL": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    out = {}
    try:
        for per_call in (16, 1):
            with GenerationClient(
                f"127.0.0.1:{port}", timeout=60, steps_per_call=per_call
            ) as client:
                client.wait_until_ready(180)
                client.generate(
                    "ROMEO:", max_new_tokens=40, seed=0
                )  # warm: connect, learn, first calls
                times = []
                for seed in range(runs):
                    stamps = [
                        (time.perf_counter(), len(chunk.text))
                        for chunk in client.stream("ROMEO:", max_new_tokens=500, seed=seed)
                    ]
                    times.append(
                        (stamps[-1][0] - stamps[0][0]) * 1000 / sum(n for _, n in stamps[1:])
                    )
                out[str(per_call)] = times
    finally:
        server.terminate()
        server.wait(30)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
