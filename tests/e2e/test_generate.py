"""End to end: train a tiny model, export it, serve it with `charloom serve` in a subprocess, and
generate through the gRPC client; with a fixed seed the text equals in-process generation from
the same SavedModel. (Tests may import trainer/; serving/ never does.)"""

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from serving.client.errors import UnknownCharactersError
from serving.client.generator import GenerationClient, TextGenerator

pytestmark = pytest.mark.e2e

MODEL = "charloom"


@pytest.fixture(scope="module")
def exported_model(tmp_path_factory, small_corpus) -> Path:
    from trainer.config import load_config
    from trainer.corpus import load_corpus
    from trainer.export import export_run
    from trainer.training import train

    root = tmp_path_factory.mktemp("e2e")
    config = load_config(
        "tiny",
        {
            "units": [64],
            "epochs": 1,
            "steps_per_epoch": 15,
            "validation_steps": 2,
            "batch_size": 32,
        },
    )
    train(config, load_corpus(str(small_corpus)), root / "run", verbose=0)
    return export_run(root / "run", root / "models")


@pytest.fixture(scope="module")
def served(exported_model):
    """`charloom serve` on a free port (port 0, announced on stdout); yields the target."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "charloom",
            "serve",
            "--model-base-path",
            str(exported_model.parent),
            "--model-name",
            MODEL,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--file-system-poll-wait-seconds",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    port: list[int] = []
    announced = threading.Event()

    def read_stdout() -> None:
        for line in process.stdout:
            match = re.search(r"on port (\d+)", line)
            if match and not port:
                port.append(int(match.group(1)))
                announced.set()

    threading.Thread(target=read_stdout, daemon=True).start()
    try:
        if not announced.wait(90):
            process.kill()
            pytest.fail(f"charloom serve did not start: {process.stderr.read()[-2000:]}")
        yield f"127.0.0.1:{port[0]}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_served_text_equals_in_process_text(served, exported_model):
    options = dict(
        num_samples=2, max_new_tokens=120, temperature=0.8, top_p=0.95, seed=42, stop=["\n\n"]
    )
    prompts = ["ROMEO:", "the lord"]  # in both the Shakespeare head and the synthetic corpus
    with GenerationClient(served, MODEL, timeout=10) as client:
        client.wait_until_ready(60)
        remote = client.generate(prompts, **options)
        streamed = "".join(
            c.text for c in client.stream(prompts[0], **{**options, "num_samples": 1})
        )
    local = TextGenerator.from_saved_model(exported_model).generate(prompts, **options)
    assert [(r.text, r.finish_reason) for r in remote] == [(r.text, r.finish_reason) for r in local]
    # sampled in the served model's `sample` signature (16 per call) or here, one step per call
    per_step = TextGenerator.from_saved_model(exported_model, steps_per_call=1).generate(
        prompts, **options
    )
    assert [(r.text, r.finish_reason) for r in remote] == [
        (r.text, r.finish_reason) for r in per_step
    ]
    assert streamed == remote[0].text
    assert all(r.text for r in remote)
    greedy = dict(max_new_tokens=60, temperature=0)
    with GenerationClient(served, MODEL) as client:
        assert (
            client.generate("the king", **greedy)[0].text
            == TextGenerator.from_saved_model(exported_model).generate("the king", **greedy)[0].text
        )


def test_unknown_characters_refused_by_the_served_vocabulary(served):
    with (
        GenerationClient(served, MODEL) as client,
        pytest.raises(UnknownCharactersError, match=r"U\+00E9"),
    ):
        client.generate("Roméo:")


def test_cli_against_the_server(served, exported_model, capsys):
    from charloom.cli import main

    code = main(
        [
            "generate",
            "--target",
            served,
            "--prompt",
            "ROMEO:",
            "--max-new-tokens",
            "80",
            "--temperature",
            "0.8",
            "--seed",
            "7",
            "--stream",
            "--wait-ready",
            "30",
        ]
    )
    out = capsys.readouterr().out
    [expected] = TextGenerator.from_saved_model(exported_model).generate(
        "ROMEO:", max_new_tokens=80, temperature=0.8, seed=7
    )
    assert code == 0 and out == "ROMEO:" + expected.text + "\n"
