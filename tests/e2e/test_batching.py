"""Every kind of client at once through `charloom serve --enable-batching` with k8s/'s batching file.

TF Serving's rules (reproduced by the local server) fail a whole batch when two requests differ in
a non-batch dimension and refuse requests above max_batch_size (64 in the deployed file). Clients
with prompts of different lengths, different --num-samples, different --steps-per-call, more rows
than max_batch_size and a Chinese vocabulary of thousands of characters run concurrently, several
rounds, against a real server process: none may fail, and each text must equal the one the same
request gives without batching (in process, the Session path).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from serving import defaults
from serving.client.generator import GenerationClient, TextGenerator
from tests.helpers.ports import free_port

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
BATCHING_FILE = REPO / "k8s" / "base" / "serving" / "config" / "batching.config"
ENGLISH = "ROMEO:\nBut soft, what light through yonder window breaks? It is the east.\n"
CHINESE = (
    "".join(chr(0x4E00 + i) for i in range(3000)) + "，。\n"
)  # 3,003 characters, as in a Chinese corpus
LONG_PROMPT = ("But soft, what light through yonder window breaks? " * 7)[:333]  # 3 prefill chunks

# (model, prompts, options): every kind the issue lists, several of each
CLIENTS = [
    ("english", ["ROMEO:"], dict(num_samples=1, steps_per_call=16)),
    ("english", [LONG_PROMPT], dict(num_samples=3, steps_per_call=7)),
    ("english", ["But", "It is the east"], dict(num_samples=2, steps_per_call=1)),
    (
        "english",
        ["ROMEO:\n"],
        dict(num_samples=100, steps_per_call=64),
    ),  # 100 rows > max_batch_size 64
    ("english", ["soft"], dict(num_samples=2, steps_per_call=5, temperature=0.7, top_k=5)),
    ("chinese", [CHINESE[100:103]], dict(num_samples=2, steps_per_call=16)),
    ("chinese", [CHINESE[7]], dict(num_samples=70, steps_per_call=9, top_p=0.9)),
]
ROUNDS = 2
MAX_NEW_TOKENS = 40


def export(base: Path, text: str):
    from trainer.config import TrainingConfig
    from trainer.export import export_saved_model
    from trainer.model import build_model
    from trainer.vocabulary import Vocabulary

    vocabulary = Vocabulary.from_text(text)
    config = TrainingConfig(cell="gru", num_layers=2, units=(16, 12), embedding_dim=8)
    model = build_model(config, vocabulary.size)
    kernel, bias = model.get_layer("logits").get_weights()
    model.get_layer("logits").set_weights([kernel * 5.0, bias])
    return export_saved_model(model, config, vocabulary, base)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("batching-e2e")
    paths = {
        "english": export(root / "english", ENGLISH),
        "chinese": export(root / "chinese", CHINESE),
    }
    config = root / "models.config"
    config.write_text(
        "model_config_list {\n"
        + "".join(
            f'  config {{ name: "{name}" base_path: "{path.parent}" model_platform: "tensorflow" }}\n'
            for name, path in paths.items()
        )
        + "}\n"
    )
    return paths, config


def expected_texts(paths) -> dict[tuple[int, int], list[str]]:
    """Each client's texts without batching: in process, one call at a time."""
    out = {}
    generators = {
        name: TextGenerator.from_saved_model(path, steps_per_call=1) for name, path in paths.items()
    }
    for index, (model, prompts, options) in enumerate(CLIENTS):
        options = {k: v for k, v in options.items() if k != "steps_per_call"}
        for round_ in range(ROUNDS):
            results = generators[model].generate(
                prompts, max_new_tokens=MAX_NEW_TOKENS, seed=index * 10 + round_, **options
            )
            out[index, round_] = [r.text for r in results]
    for generator in generators.values():
        generator.close()
    return out


def test_every_kind_of_client_at_once_under_tf_serving_batching_rules(models, wait_for_health):
    paths, model_config = models
    port, monitoring = free_port(), free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "charloom",
            "serve",
            "--model-config-file",
            str(model_config),
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--rest-api-port",
            str(monitoring),
            "--enable-batching",
            "--batching-parameters-file",
            str(BATCHING_FILE),
            "--file-system-poll-wait-seconds",
            "0",
            "--grace-seconds",
            "2",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    results: dict[tuple[int, int], list[str]] = {}
    errors: list[str] = []
    try:
        expected = expected_texts(paths)  # while the server starts
        wait_for_health(port, timeout=120)
        barrier = threading.Barrier(len(CLIENTS))

        def client(index: int) -> None:
            model, prompts, options = CLIENTS[index]
            options = dict(options)
            steps = options.pop("steps_per_call")
            try:
                with GenerationClient(
                    f"127.0.0.1:{port}", model, timeout=60, steps_per_call=steps
                ) as generation:
                    for round_ in range(ROUNDS):
                        barrier.wait(timeout=120)  # every client's calls overlap every other's
                        texts = generation.generate(
                            prompts,
                            max_new_tokens=MAX_NEW_TOKENS,
                            seed=index * 10 + round_,
                            **options,
                        )
                        results[index, round_] = [r.text for r in texts]
            except BaseException as exc:  # collected: every failure is reported, not the first
                errors.append(f"client {index} ({model}, {options}, steps {steps}): {exc!r}")
                barrier.abort()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(len(CLIENTS))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        metrics = (
            urllib.request.urlopen(
                f"http://127.0.0.1:{monitoring}{defaults.MONITORING_PATH}", timeout=10
            )
            .read()
            .decode()
        )
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            _, err = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            _, err = server.communicate()
    assert not errors, "\n".join(errors) + "\nserver log:\n" + err[-3000:]
    batches = {
        kind: float(
            re.search(
                rf"^:tensorflow:serving:batching_session:processed_batch_size_{kind} (\S+)$",
                metrics,
                re.M,
            ).group(1)
        )
        for kind in ("sum", "count")
    }
    assert batches["sum"] > batches["count"], "no two requests were ever batched together"
    assert results.keys() == expected.keys()
    for key, texts in expected.items():
        assert results[key] == texts, (
            f"client {key[0]} round {key[1]} differs from the unbatched text"
        )
