"""The exported signatures honour the contract: parity with the training model, fixed shapes, errors,
and `saved_model_cli run` (TF Serving's way of loading) on every signature.

Every signature is called through a Session by tensor name, as TF Serving and `saved_model_cli run`
call it, never through TensorFlow's TF2 object loader.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from serving.contract import (
    DETOKENIZE_WIDTH,
    MAX_PROMPT_TOKENS,
    NO_ID,
    PREFILL_WIDTH,
    SAMPLE_WIDTH,
)
from serving.signature_inputs import detokenize_ids, extra_sample_inputs
from tests.helpers.export_models import SHAPES, TEXT, VOCAB, padded, zeros
from trainer.model import state_names


@pytest.mark.parametrize("key", list(SHAPES))
def test_parity_step_and_prefill_with_the_training_model(exported, key):
    config, model, _, loaded = exported[key]
    ids = VOCAB.encode(TEXT)[None, :]
    full = model(ids, training=False).numpy()[0]

    step = loaded["serving_default"]
    states = zeros(config, 1)
    logits = []
    for t in range(ids.shape[1]):
        out = step(input_ids=ids[:, t : t + 1], **states)
        logits.append(out["logits"][0])
        states = {name: out[name] for name, _ in state_names(config)}
    assert np.abs(np.array(logits) - full).max() <= 1e-4

    # prefill: the whole text at once, and a shorter right-padded row in the same batch
    short = 7
    out = loaded["prefill"](
        input_ids=padded([ids[0], ids[0, :short]]),
        lengths=np.array([ids.shape[1], short], np.int32),
        **zeros(config, 2),
    )
    assert np.abs(out["logits"][0] - full[-1]).max() <= 1e-4
    assert np.abs(out["logits"][1] - full[short - 1]).max() <= 1e-4
    # prefill's final states equal the step-by-step ones
    for name, _ in state_names(config):
        assert np.abs(out[name][0] - states[name][0]).max() <= 1e-4
    # in two chunks: the second continues from the first's states; a row of length 0 keeps its
    # states and logits
    first = loaded["prefill"](
        input_ids=padded([ids[0, :20], ids[0, :short]]),
        lengths=np.array([20, short], np.int32),
        **zeros(config, 2),
    )
    second = loaded["prefill"](
        input_ids=padded([ids[0, 20:], []]),
        lengths=np.array([ids.shape[1] - 20, 0], np.int32),
        **{name: first[name] for name, _ in state_names(config)},
    )
    assert np.abs(second["logits"][0] - full[-1]).max() <= 1e-4
    assert np.abs(second["logits"][1] - full[short - 1]).max() <= 1e-4


def test_signature_shapes_are_static_where_promised(exported):
    """Every input has the batch in dimension 0 and fixed sizes elsewhere, so TF Serving's
    batching can merge any two requests of one signature."""
    config, _, _, loaded = exported["lstm", 3]
    signatures = loaded.bundle.signature_defs

    def dims(signature, side="inputs"):
        return {
            k: [d.size for d in v.tensor_shape.dim]
            for k, v in getattr(signatures[signature], side).items()
        }

    states = {name: [-1, units] for name, units in state_names(config)}
    assert dims("serving_default") == {"input_ids": [-1, 1], **states}
    assert dims("serving_default", "outputs") == {"logits": [-1, VOCAB.size], **states}
    assert dims("prefill") == {"input_ids": [-1, PREFILL_WIDTH], "lengths": [-1], **states}
    assert dims("sample") == {
        "input_ids": [-1, 1],
        "uniforms": [-1, SAMPLE_WIDTH],
        "steps": [-1],
        "temperature": [-1],
        "top_k": [-1],
        "top_p": [-1],
        **{name: [-1] for name in ("min_p", "logprobs")},
        **{name: [-1] for name in ("repetition_penalty", "frequency_penalty", "presence_penalty")},
        **{name: [-1, VOCAB.size] for name in ("logit_bias", "output_token_counts")},
        "prompt_token_mask": [-1, VOCAB.size],
        **states,
    }
    assert dims("sample", "outputs") == {
        "sampled_ids": [-1, SAMPLE_WIDTH],
        "sampled_logprobs": [-1, SAMPLE_WIDTH],
        "top_logprob_ids": [-1, SAMPLE_WIDTH, -1],  # the call's largest logprobs wide
        "top_logprobs": [-1, SAMPLE_WIDTH, -1],
        **states,
    }
    assert dims("score") == dims("prefill")
    assert dims("score", "outputs") == {
        "token_logprobs": [-1, PREFILL_WIDTH],
        "logits": [-1, VOCAB.size],
        **states,
    }
    assert dims("tokenize", "outputs") == {"input_ids": [-1, MAX_PROMPT_TOKENS], "lengths": [-1]}
    assert dims("tokenize") == {"text": [-1]}
    assert dims("detokenize") == {"input_ids": [-1, DETOKENIZE_WIDTH]}


def test_tokenize_and_detokenize(exported):
    _, _, _, loaded = exported["gru", 1]
    out = loaded["tokenize"](
        text=np.array(["你好 😀".encode(), b"But", "Zé".encode(), b""], dtype=object)
    )
    ids, lengths = out["input_ids"], out["lengths"]
    assert lengths.tolist() == [4, 3, 2, 0] and ids.shape == (4, MAX_PROMPT_TOKENS)
    assert ids[0, :4].tolist() == VOCAB.encode("你好 😀").tolist()
    assert ids[1, :4].tolist() == VOCAB.encode("But").tolist() + [0]
    assert ids[2, 1] == NO_ID and ids[2, 0] == NO_ID  # 'Z' and 'é' are not in the vocabulary
    text = loaded["detokenize"](input_ids=detokenize_ids(ids[0, :3], ids[1, :3]))["text"]
    assert [t.decode("utf-8") for t in text] == ["你好 ", "But"]
    # NO_ID anywhere is padding: a sample call's output detokenizes as it is
    gaps = np.full((1, DETOKENIZE_WIDTH), NO_ID, np.int32)
    gaps[0, [0, 5, DETOKENIZE_WIDTH - 1]] = VOCAB.encode("But")
    assert loaded["detokenize"](input_ids=gaps)["text"].tolist() == [b"But"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected shape"):
        loaded["detokenize"](input_ids=ids[:2, :3])  # fixed width: batching merges any two
    with pytest.raises(tf.errors.InvalidArgumentError):
        loaded["tokenize"](text=np.array([b"ok", b"\xff\xfe"], dtype=object))
    too_long = "a" * (MAX_PROMPT_TOKENS + 1)
    for text in (too_long, "é" * (MAX_PROMPT_TOKENS + 1), "a" * (4 * MAX_PROMPT_TOKENS + 1)):
        with pytest.raises(
            tf.errors.InvalidArgumentError, match="tokenize takes texts of at most 4096"
        ):
            loaded["tokenize"](text=np.array([text.encode()], dtype=object))


def test_bad_ids_lengths_and_shapes_are_invalid_argument(exported):
    """TF Serving checks no shape or value: the model's own asserts must, with INVALID_ARGUMENT."""
    config, _, _, loaded = exported["lstm", 1]
    v = VOCAB.size
    ids = lambda *row: np.array([row], np.int32)  # noqa: E731
    for bad in (v, -1):
        with pytest.raises(tf.errors.InvalidArgumentError, match="outside the vocabulary"):
            loaded["serving_default"](input_ids=ids(bad), **zeros(config, 1))
        with pytest.raises(tf.errors.InvalidArgumentError, match="outside the vocabulary"):
            loaded["prefill"](
                input_ids=padded([[1, bad]]), lengths=np.array([2], np.int32), **zeros(config, 1)
            )
        with pytest.raises(tf.errors.InvalidArgumentError, match="outside the vocabulary"):
            loaded["detokenize"](input_ids=detokenize_ids([1, bad if bad != NO_ID else -2]))
    for lengths in ([-1], [PREFILL_WIDTH + 1], [1, 1]):
        with pytest.raises(tf.errors.InvalidArgumentError, match="lengths"):
            loaded["prefill"](
                input_ids=padded([[1, 2]]), lengths=np.array(lengths, np.int32), **zeros(config, 1)
            )
    with pytest.raises(tf.errors.InvalidArgumentError, match="layer_0_h"):
        loaded["serving_default"](input_ids=np.array([[1], [2]], np.int32), **zeros(config, 1))
    shape = r"Shape of tensor .*{} \[{}\] is not compatible with expected shape \[{}\]"
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=shape.format("input_ids.*", "1,2", r"\?,1")
    ):
        loaded["serving_default"](input_ids=ids(1, 2), **zeros(config, 1))
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=shape.format("input_ids.*", "1,2", r"\?,128")
    ):
        loaded["prefill"](input_ids=ids(1, 2), lengths=np.array([2], np.int32), **zeros(config, 1))
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=shape.format("layer_0_c.*", "1,3", r"\?,16")
    ):
        loaded["serving_default"](
            input_ids=ids(1), **{**zeros(config, 1), "layer_0_c": np.zeros((1, 3), np.float32)}
        )
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=shape.format("input_ids.*", "1", r"\?,1")
    ):
        loaded["serving_default"](input_ids=np.array([1], np.int32), **zeros(config, 1))


BATCH = Path(__file__).resolve().parents[2] / "helpers" / "saved_model_cli_batch.py"
MARKER = "=== saved_model_cli "


def saved_model_cli(commands: list[list[str]], folder: Path) -> list[tuple[str, str]]:
    """Run `saved_model_cli` command lines in one interpreter (tests/helpers/
    saved_model_cli_batch.py): (status, output) of each, in order."""
    (folder / "commands.json").write_text(json.dumps(commands), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(BATCH), str(folder / "commands.json")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    outcomes, output = [], []
    for line in result.stdout.splitlines():
        if line.startswith(MARKER):
            status = line.split(": ", 1)[1]
            outcomes.append((status, "\n".join(output) + ("" if status == "ok" else result.stderr)))
            output = []
        else:
            output.append(line)
    assert len(outcomes) == len(commands), result.stdout[-2000:] + result.stderr[-2000:]
    return outcomes


def cli_requests(config) -> dict[str, dict[str, np.ndarray]]:
    """Two rows of inputs for each signature of an export of ``config``."""
    states = zeros(config, 2)
    ids = VOCAB.encode("soft")
    return {
        "serving_default": {"input_ids": np.array([[ids[0]], [ids[1]]], np.int32), **states},
        "prefill": {
            "input_ids": padded([ids, ids[:2]]),
            "lengths": np.array([4, 2], np.int32),
            **states,
        },
        "sample": {
            "input_ids": np.array([[ids[0]], [ids[1]]], np.int32),
            **states,
            "uniforms": np.full((2, SAMPLE_WIDTH), 0.25),
            "steps": np.array([3, 16], np.int32),
            "temperature": np.array([1.0, 0.0]),
            "top_k": np.array([0, 5], np.int32),
            "top_p": np.array([1.0, 0.9]),
            **extra_sample_inputs(2, VOCAB.size, logprobs=[3, 0], repetition_penalty=1.2),
        },
        "tokenize": {"text": np.array([b"soft", "你好".encode()], dtype=object)},
        "detokenize": {"input_ids": detokenize_ids(ids, ids[::-1])},
    }


@pytest.fixture(scope="module")
def cli_runs(exported, tmp_path_factory):
    """`saved_model_cli show --all` of the LSTM-1 export, then `saved_model_cli run` of every
    signature of the LSTM-3 export, in one interpreter: (outcomes, requests, output folder)."""
    folder = tmp_path_factory.mktemp("saved_model_cli")
    _, _, shown, _ = exported["lstm", 1]
    config, _, path, _ = exported["lstm", 3]
    requests = cli_requests(config)
    commands = [["show", "--all", "--dir", str(shown)]]
    for signature, inputs in requests.items():
        files = []
        for name, value in inputs.items():
            np.save(folder / f"{signature}-{name}.npy", value, allow_pickle=True)
            files.append(f"{name}={folder / f'{signature}-{name}.npy'}")
        commands.append(
            [
                "run",
                "--dir",
                str(path),
                "--tag_set",
                "serve",
                "--signature_def",
                signature,
                "--inputs",
                ";".join(files),
                "--outdir",
                str(folder / f"out-{signature}"),
            ]
        )
    return saved_model_cli(commands, folder), requests, folder


@pytest.mark.slow
def test_saved_model_cli_shows_every_signature(cli_runs):
    (status, output), *_ = cli_runs[0]
    assert status == "ok", output
    for name in ("serving_default", "prefill", "sample", "tokenize", "detokenize"):
        assert f"signature_def['{name}']" in output
    for name in ("layer_0_h", "layer_0_c", "lengths", "text", "uniforms", "steps"):
        assert f"inputs['{name}']" in output


@pytest.mark.slow
def test_saved_model_cli_runs_every_signature(exported, cli_runs):
    """`saved_model_cli run` loads the TF1 way TF Serving does (restore op, init op, Session::Run by
    tensor name): every signature of a fresh export runs there and gives the Session path's values.
    (GRU exports are run the same way in test_serving_runtime.py.)"""
    loaded = exported["lstm", 3][3]
    (_, *outcomes), requests, folder = cli_runs
    for (status, output), (signature, inputs) in zip(outcomes, requests.items(), strict=True):
        out_dir = folder / f"out-{signature}"
        assert status == "ok", f"{signature}: {output[-2000:]}"
        expected = loaded[signature](**inputs)
        for name, value in expected.items():
            got = np.load(out_dir / f"{name}.npy", allow_pickle=True)
            if value.dtype == object:
                assert got.tolist() == value.tolist(), (signature, name)
            else:
                np.testing.assert_allclose(got, value, atol=1e-5, err_msg=f"{signature} {name}")
