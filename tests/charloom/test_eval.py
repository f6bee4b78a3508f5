"""`charloom eval` against a served export: with --window it gives the trainer's val_bpc of the
same split; as one sequence it gives bits per character too; bad input is one line."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from serving.server.config import ServerConfig, single_model
from serving.server.model_server import start_server
from tests.helpers.cli import run_cli

pytestmark = pytest.mark.slow
SEQ_LEN, BATCH, VALIDATION_STEPS = 40, 16, 3


@pytest.fixture(scope="module")
def served_run(tmp_path_factory, small_corpus):
    """A trained and exported run, served; and the text of its validation windows."""
    from trainer.config import load_config
    from trainer.corpus import load_corpus
    from trainer.dataset import split_ids, windows
    from trainer.export import export_run
    from trainer.training import train
    from trainer.vocabulary import build

    root = tmp_path_factory.mktemp("eval")
    config = load_config(
        "tiny",
        {
            "units": [48],
            "epochs": 1,
            "steps_per_epoch": 20,
            "seq_len": SEQ_LEN,
            "batch_size": BATCH,
            "validation_steps": VALIDATION_STEPS,
        },
    )
    corpus = load_corpus(str(small_corpus))
    result = train(config, corpus, root / "run", verbose=0)
    export_run(root / "run", root / "models")
    vocabulary, ids = build(corpus.text, config.tokenizer, config.min_count, config.max_vocab)
    used = windows(split_ids(ids, config.validation_fraction).validation, SEQ_LEN)
    used = used[: VALIDATION_STEPS * BATCH]  # the batches validation ran: corpus order
    text = root / "validation.txt"
    text.write_text("".join(vocabulary.tokens[i] for i in np.ravel(used)), encoding="utf-8")
    server = start_server(
        ServerConfig(models=(single_model("charloom", root / "models"),), port=0, host="127.0.0.1")
    )
    yield f"127.0.0.1:{server.port}", text, result.best_val_bpc
    server.stop(grace=0)


def bits(result: subprocess.CompletedProcess) -> float:
    assert result.returncode == 0, result.stderr[-3000:]
    return float(re.match(r"([0-9.]+) bits per character", result.stdout).group(1))


def test_windows_give_the_trainers_val_bpc_and_one_sequence_scores_too(served_run, capsys):
    target, text, val_bpc = served_run
    windowed = run_cli(capsys, "eval", "--target", target, "--corpus", text, "--window", SEQ_LEN)
    assert bits(windowed) == pytest.approx(val_bpc, abs=0.01)
    assert f"{VALIDATION_STEPS * BATCH * SEQ_LEN} tokens; windows of {SEQ_LEN + 1}" in (
        windowed.stdout
    )
    whole = run_cli(capsys, "eval", "--target", target, "--corpus", text)
    assert 0 < bits(whole) < 8 and "one sequence, the state carried" in whole.stdout
    assert "version 1" in whole.stdout


@pytest.mark.parametrize(
    "case, message",
    [
        ("window 0", "--window must be in [1, "),
        ("no file", "no such file"),
        ("too big", "at most 67108864 are scored"),
        ("not utf-8", "is not UTF-8 text"),
        ("shorter than a window", "has no token to score (shorter than one window of 1001"),
    ],
)
def test_bad_input_is_one_line(served_run, tmp_path, capsys, case, message):
    target, text, _ = served_run
    corpus = tmp_path / "corpus.txt"
    window = ["--window", "1000"] if case == "shorter than a window" else []
    if case == "window 0":
        window = ["--window", "0"]
        corpus = text
    elif case == "too big":
        with corpus.open("wb") as f:
            f.truncate(64 * 1024 * 1024 + 1)  # sparse: refused before it is read
    elif case == "not utf-8":
        corpus.write_bytes(b"caf\xe9")
    elif case == "shorter than a window":
        corpus.write_text("ROMEO", encoding="utf-8")
    result = run_cli(capsys, "eval", "--target", target, "--corpus", corpus, *window)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("charloom")]
    assert len(lines) == 1 and message in lines[0], result.stderr
