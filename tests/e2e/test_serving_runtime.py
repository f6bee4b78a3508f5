"""Exports run under the TensorFlow of every pinned TF Serving image, the way TF Serving runs them.

Exports are written by this project's TensorFlow; the Kubernetes overlays run older TF Serving
releases (serving/defaults.py). For each of their TensorFlow versions, a cached virtual
environment with ``tensorflow-cpu`` of that version loads a fresh export with the TF1 loader into
a Session (restore op, init op, as TF Serving's LoadSavedModel), runs every signature by tensor
name, and the outputs must equal the training side's within 1e-4.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from serving import defaults
from serving.client.sampling import SamplingParams, choose_ids, probabilities
from serving.contract import NO_ID, PREFILL_WIDTH, SAMPLE_WIDTH
from serving.sampling_rule import Penalties
from serving.signature_inputs import detokenize_ids, extra_sample_inputs
from tests.helpers.export_cache import seeded_export
from tests.helpers.serving_runtime import runtime_python
from tests.helpers.session_model import SessionSignatures
from trainer.config import TrainingConfig
from trainer.model import build_model, state_names
from trainer.vocabulary import Vocabulary, build

pytestmark = pytest.mark.e2e

PROBE = Path(__file__).resolve().parents[1] / "helpers" / "session_probe.py"
TEXT = "ROMEO:\nBut soft, what light through yonder window breaks? 你好\n"
VOCAB = Vocabulary.from_text(TEXT)
PROMPT = VOCAB.encode("But soft, what light")
PARAMS = [  # every sampling parameter in play, and a greedy row
    SamplingParams(
        0.9, top_k=5, min_p=0.05, repetition_penalty=1.3, frequency_penalty=0.7, logit_bias={"e": 2}
    ),
    SamplingParams(0.0, presence_penalty=0.5),
]
ALTERNATIVES = [3, 0]  # logprobs asked by each row


def penalty_inputs() -> dict[str, np.ndarray]:
    mask = np.zeros((2, VOCAB.size), np.int32)
    mask[[0, 1], PROMPT[:2]] = 1  # each row's one-token prompt
    ids = {token: i for i, token in enumerate(VOCAB.tokens)}
    bias = np.stack([p.bias_vector(ids, VOCAB.size) for p in PARAMS])
    return extra_sample_inputs(
        2,
        VOCAB.size,
        min_p=[p.min_p for p in PARAMS],
        repetition_penalty=[p.repetition_penalty for p in PARAMS],
        frequency_penalty=[p.frequency_penalty for p in PARAMS],
        presence_penalty=[p.presence_penalty for p in PARAMS],
        logprobs=ALTERNATIVES,
        logit_bias=bias,
        prompt_mask=mask,
    )


WORD_TEXT = (
    "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。\n" * 3
    + "ROMEO: But soft, what light through yonder window breaks? 春风 soft light\n" * 2
)


CELLS = {"gru2": ("gru", 2), "lstm1": ("lstm", 1)}


@pytest.fixture(scope="module")
def exports() -> dict[str, tuple]:
    """Each char model as (config, Keras model, export), and the word model as (vocabulary,
    export), exported by this project's TensorFlow (once per run: tests/helpers/export_cache.py)."""
    out = {}
    for case, (cell, layers) in CELLS.items():
        config = TrainingConfig(cell=cell, num_layers=layers, units=(24,) * layers, embedding_dim=8)

        def make_model(config=config):
            model = build_model(config, VOCAB.size)
            kernel, bias = model.get_layer("logits").get_weights()
            model.get_layer("logits").set_weights([kernel * 6.0, bias])  # peaked: sampling bites
            return model

        out[case] = (config, *seeded_export(f"serving runtime {case}", make_model, config, VOCAB))
    vocabulary, _ = build(WORD_TEXT, "word", min_count=2)
    config = TrainingConfig(tokenizer="word", units=(8,), embedding_dim=4)
    _, path = seeded_export(
        "serving runtime word", lambda: build_model(config, vocabulary.size), config, vocabulary
    )
    out["word"] = (vocabulary, path)
    return out


@pytest.fixture(scope="module")
def runtime_outputs(exports, tmp_path_factory):
    """``runtime_outputs(version)`` -> {case: {"signature:alias": output}}: every export run by
    one probe process of that TF Serving image's TensorFlow (one TensorFlow import per version)."""
    ran: dict[str, dict[str, dict[str, np.ndarray]]] = {}

    def run(version: str) -> dict[str, dict[str, np.ndarray]]:
        if version in ran:
            return ran[version]
        python = runtime_python(version)
        folder = tmp_path_factory.mktemp(f"runtime-{version}")
        arguments = []
        for case, export in exports.items():
            inputs = word_inputs(export[0]) if case == "word" else requests(export[0])
            np.savez(folder / f"{case}-inputs.npz", **inputs)
            arguments += [
                str(export[-1]),
                str(folder / f"{case}-inputs.npz"),
                str(folder / f"{case}-outputs.npz"),
            ]
        result = subprocess.run(
            [str(python), str(PROBE), *arguments],
            capture_output=True,
            text=True,
            timeout=600,
            env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"},
        )
        assert result.returncode == 0, result.stderr[-3000:]
        # really that TensorFlow, once per export
        assert result.stdout.strip().splitlines()[-len(exports) :] == [version] * len(exports)
        ran[version] = {}
        for case in exports:
            with np.load(folder / f"{case}-outputs.npz") as data:
                ran[version][case] = {key: data[key] for key in data.files}
        return ran[version]

    return run


def requests(config) -> dict[str, np.ndarray]:
    states = {name: np.zeros((2, units), np.float32) for name, units in state_names(config)}
    prompt = np.zeros((2, PREFILL_WIDTH), np.int32)
    prompt[0, : len(PROMPT)] = PROMPT
    prompt[1, :5] = PROMPT[:5]
    uniforms = np.zeros((2, SAMPLE_WIDTH))
    uniforms[:, :12] = 1.0 - np.random.default_rng(0).random((2, 12))
    signatures = {
        "serving_default": {"input_ids": PROMPT[:2, None], **states},
        "prefill": {"input_ids": prompt, "lengths": np.array([len(PROMPT), 5], np.int32), **states},
        "score": {"input_ids": prompt, "lengths": np.array([len(PROMPT), 5], np.int32), **states},
        "sample": {
            "input_ids": PROMPT[:2, None],
            **states,
            "uniforms": uniforms,
            "steps": np.array([12, 12], np.int32),
            "temperature": np.array([p.temperature for p in PARAMS]),
            "top_k": np.array([p.top_k for p in PARAMS], np.int32),
            "top_p": np.array([p.top_p for p in PARAMS]),
            **penalty_inputs(),
        },
        "tokenize": {"text": np.array([b"But soft", "你好!".encode()])},
        "detokenize": {"input_ids": detokenize_ids(PROMPT[:4], PROMPT[4:8])},
    }
    return {
        f"{signature}:{name}": value
        for signature, inputs in signatures.items()
        for name, value in inputs.items()
    }


def training_side(config, model, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What each signature must return, computed from the Keras model and the client's rules."""
    full = model(PROMPT[None, :], training=False).numpy()[0]
    expected = {
        "serving_default:logits": model(PROMPT[:2, None], training=False).numpy()[:, 0],
        "prefill:logits": np.stack([full[len(PROMPT) - 1], full[4]]),
        "score:logits": np.stack([full[len(PROMPT) - 1], full[4]]),
    }
    scored = np.zeros((2, PREFILL_WIDTH), np.float32)
    for row, length in enumerate((len(PROMPT), 5)):
        for t in range(length - 1):
            shifted = full[t].astype(np.float64) - full[t].max()
            scored[row, t] = shifted[PROMPT[t + 1]] - np.log(np.exp(shifted).sum())
    expected["score:token_logprobs"] = scored
    sampled, chosen_logprobs, top_ids = [], [], []
    history = [list(PROMPT[:1]), list(PROMPT[1:2])]
    counts = np.zeros((2, VOCAB.size), np.int32)
    extras = penalty_inputs()
    for i in range(12):  # the client's sampling, one step at a time over the whole history
        logits = np.stack([model(np.array([h]), training=False).numpy()[0, -1] for h in history])
        chosen = []
        for r, p in enumerate(PARAMS):
            penalties = Penalties(
                repetition=np.array([p.repetition_penalty]),
                frequency=np.array([p.frequency_penalty]),
                presence=np.array([p.presence_penalty]),
                logit_bias=extras["logit_bias"][r : r + 1],
                output_counts=counts[r : r + 1],
                prompt_mask=extras["prompt_token_mask"][r : r + 1],
            )
            u = inputs["sample:uniforms"][r : r + 1, i]
            chosen.append(choose_ids(probabilities(logits[r : r + 1], p, penalties), u)[0])
        log_p = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
        chosen_logprobs.append(log_p[[0, 1], chosen])
        top_ids.append(np.argsort(-log_p[0], kind="stable")[:3])
        counts[[0, 1], chosen] += 1
        sampled.append(chosen)
        history = [h + [c] for h, c in zip(history, chosen)]
    expected["sample:sampled_ids"] = np.array(sampled, np.int32).T
    expected["sample:sampled_logprobs"] = np.array(chosen_logprobs, np.float32).T
    expected["sample:top_logprob_ids"] = np.array(top_ids, np.int32)  # row 0's, per step
    expected["tokenize:lengths"] = np.array([8, 3], np.int32)
    expected["detokenize:text"] = np.array(
        [VOCAB.decode(PROMPT[:4]).encode(), VOCAB.decode(PROMPT[4:8]).encode()]
    )
    return expected


@pytest.mark.parametrize("version", defaults.TF_SERVING_RUNTIME_VERSIONS)
@pytest.mark.parametrize("case", list(CELLS))
def test_every_signature_runs_in_the_serving_images_tensorflow(
    exports, runtime_outputs, case, version
):
    config, model, path = exports[case]
    inputs = requests(config)
    outputs = runtime_outputs(version)[case]
    expected = training_side(config, model, inputs)
    np.testing.assert_allclose(
        outputs["serving_default:logits"], expected["serving_default:logits"], atol=1e-4
    )
    np.testing.assert_allclose(outputs["prefill:logits"], expected["prefill:logits"], atol=1e-4)
    for name in ("score:logits", "score:token_logprobs"):
        np.testing.assert_allclose(outputs[name], expected[name], atol=1e-4, err_msg=name)
    assert outputs["sample:sampled_ids"][:, :12].tolist() == expected["sample:sampled_ids"].tolist()
    np.testing.assert_allclose(
        outputs["sample:sampled_logprobs"][:, :12], expected["sample:sampled_logprobs"], atol=1e-4
    )
    top = outputs["sample:top_logprob_ids"]
    assert top.shape == (2, SAMPLE_WIDTH, 3)  # as many as the call's largest logprobs
    assert top[0, :12].tolist() == expected["sample:top_logprob_ids"].tolist()
    assert (outputs["sample:sampled_ids"][:, 12:] == -1).all()
    assert outputs["tokenize:lengths"].tolist() == expected["tokenize:lengths"].tolist()
    assert outputs["tokenize:input_ids"][0, :8].tolist() == VOCAB.encode("But soft").tolist()
    assert outputs["detokenize:text"].tolist() == expected["detokenize:text"].tolist()
    # every output, states included, equals this project's TensorFlow running the same export
    here = SessionSignatures(path)
    try:
        for signature in {key.split(":")[0] for key in inputs}:
            mine = here[signature](
                **{k.split(":")[1]: v for k, v in inputs.items() if k.startswith(signature + ":")}
            )
            for alias, value in mine.items():
                theirs = outputs[f"{signature}:{alias}"]
                if value.dtype == object:
                    assert theirs.tolist() == value.tolist(), (signature, alias)
                else:
                    np.testing.assert_allclose(
                        theirs, value, atol=1e-4, err_msg=f"{signature} {alias}"
                    )
    finally:
        here.close()


WORD_TEXTS = ["春眠不觉晓，处处闻啼鸟。", "But soft, what light", "花落知多少 ROMEO 春风\n", "é春"]


def word_expectations(vocabulary: Vocabulary) -> tuple[list[list[int]], np.ndarray]:
    """The contract's ids of WORD_TEXTS (greedy longest match), and detokenize's input ids."""
    from serving.contract import longest_match

    table = {token: i for i, token in enumerate(vocabulary.tokens)}
    longest = max(len(t) for t in vocabulary.tokens)
    expected = [longest_match(text, table, longest) for text in WORD_TEXTS]
    ids = detokenize_ids(*[row[:3] if -1 not in row[:3] else [0, 1, 2] for row in expected])
    return expected, ids


def word_inputs(vocabulary: Vocabulary) -> dict[str, np.ndarray]:
    _, ids = word_expectations(vocabulary)
    return {
        "tokenize:text": np.array([t.encode() for t in WORD_TEXTS]),
        "detokenize:input_ids": ids,
    }


@pytest.mark.parametrize("version", defaults.TF_SERVING_RUNTIME_VERSIONS)
def test_a_word_model_tokenizes_in_the_serving_images_tensorflow(exports, runtime_outputs, version):
    """The greedy longest match runs on core ops (a hash table, gathers, scatters) in each runtime,
    and gives the contract's ids."""
    vocabulary, _ = exports["word"]
    assert any(len(t) > 1 for t in vocabulary.tokens)
    expected, ids = word_expectations(vocabulary)
    data = runtime_outputs(version)["word"]
    lengths, got = data["tokenize:lengths"], data["tokenize:input_ids"]
    texts_back = data["detokenize:text"]
    for row, want in enumerate(expected):
        assert got[row, : lengths[row]].tolist() == want, WORD_TEXTS[row]
    assert expected[-1][0] == -1  # é is no token
    assert [t.decode() for t in texts_back.tolist()] == [
        "".join(vocabulary.tokens[i] for i in r if i != NO_ID) for r in ids
    ]
