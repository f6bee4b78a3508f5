"""The ``sample`` signature samples in the graph exactly as the client samples step by step.

Every call goes through a Session by tensor name, as TF Serving runs the export.
"""

import numpy as np
import pytest
import tensorflow as tf

from serving.client.sampling import SamplingParams, choose_ids, probabilities
from serving.contract import NO_ID, SAMPLE_WIDTH
from serving.signature_inputs import extra_sample_inputs
from tests.helpers.export_cache import seeded_export
from tests.helpers.session_model import SessionSignatures
from trainer.config import TrainingConfig
from trainer.model import build_model, state_names
from trainer.vocabulary import Vocabulary

VOCAB = Vocabulary.from_text("ROMEO:\nBut soft, what light through yonder window breaks? 你好\n")
ROW_PARAMS = [
    SamplingParams(0.8, top_k=5, top_p=0.9),
    SamplingParams(0.0),
    SamplingParams(1.3),
    SamplingParams(1.0, top_p=0.5),
    SamplingParams(2.0, top_k=3),
]


@pytest.fixture(scope="module", params=[("gru", 2), ("lstm", 1)], ids=["gru2", "lstm1"])
def exported(request):
    cell, layers = request.param
    config = TrainingConfig(cell=cell, num_layers=layers, units=(24,) * layers, embedding_dim=8)

    def make_model():
        model = build_model(config, VOCAB.size)
        # random weights give near-uniform logits; scale the output layer so top-k/top-p bite
        kernel, bias = model.get_layer("logits").get_weights()
        model.get_layer("logits").set_weights([kernel * 8.0, bias])
        return model

    _, path = seeded_export(f"test_sampling {cell}{layers}", make_model, config, VOCAB)
    signatures = SessionSignatures(path)
    yield config, signatures
    signatures.close()


def zeros(config, batch):
    return {name: np.zeros([batch, units], np.float32) for name, units in state_names(config)}


def per_row(params):
    return {
        "temperature": np.array([p.temperature for p in params], np.float64),
        "top_k": np.array([p.top_k for p in params], np.int32),
        "top_p": np.array([p.top_p for p in params], np.float64),
        **extra_sample_inputs(len(params), VOCAB.size),  # neutral: no penalty, no logprobs
    }


def full_width(uniforms):
    out = np.zeros((len(uniforms), SAMPLE_WIDTH))
    out[:, : uniforms.shape[1]] = uniforms
    return out


def test_sample_equals_step_calls_with_client_sampling(exported):
    config, model = exported
    rows, steps = len(ROW_PARAMS), 40
    uniforms = 1.0 - np.random.default_rng(0).random((rows, steps))
    start = np.array([[1], [2], [3], [4], [5]], np.int32)

    out = model["sample"](
        input_ids=start,
        uniforms=full_width(uniforms),
        steps=np.full(rows, steps, np.int32),
        **per_row(ROW_PARAMS),
        **zeros(config, rows),
    )
    sampled = out["sampled_ids"]
    assert sampled.shape == (rows, SAMPLE_WIDTH) and sampled.dtype == np.int32
    assert (sampled[:, steps:] == NO_ID).all()

    ids, states, expected = start, zeros(config, rows), []
    for i in range(steps):
        result = model["serving_default"](input_ids=ids, **states)
        states = {name: result[name] for name, _ in state_names(config)}
        logits = result["logits"]
        chosen = [
            choose_ids(probabilities(logits[r : r + 1], p), uniforms[r : r + 1, i])[0]
            for r, p in enumerate(ROW_PARAMS)
        ]
        expected.append(chosen)
        ids = np.array(chosen, np.int32)[:, None]
    assert sampled[:, :steps].tolist() == np.array(expected).T.tolist()
    assert len(set(sampled[0, :steps].tolist())) > 1 and len(set(sampled[2, :steps].tolist())) > 1
    # the states are those after feeding all but the last sampled id
    for name, _ in state_names(config):
        assert np.abs(out[name] - states[name]).max() <= 1e-5


def test_rows_with_fewer_steps_stop_where_they_asked(exported):
    """Rows of one call (say, requests of different --steps-per-call batched together) each take
    their own number of steps: a row's ids and states equal those of a call of its own."""
    config, model = exported
    uniforms = full_width(1.0 - np.random.default_rng(2).random((3, SAMPLE_WIDTH)))
    steps = np.array([5, 64, 1], np.int32)
    params = per_row(ROW_PARAMS[:3])
    both = model["sample"](
        input_ids=np.array([[3], [7], [2]], np.int32),
        uniforms=uniforms,
        steps=steps,
        **params,
        **zeros(config, 3),
    )
    for row in range(3):
        alone = model["sample"](
            input_ids=np.array([[(3, 7, 2)[row]]], np.int32),
            uniforms=uniforms[row : row + 1],
            steps=steps[row : row + 1],
            **{k: v[row : row + 1] for k, v in params.items()},
            **zeros(config, 1),
        )
        assert both["sampled_ids"][row].tolist() == alone["sampled_ids"][0].tolist()
        assert (both["sampled_ids"][row, steps[row] :] == NO_ID).all()
        for name, _ in state_names(config):
            assert np.abs(both[name][row] - alone[name][0]).max() <= 1e-5


@pytest.mark.parametrize(
    "change, message",
    [
        ({"steps": [0]}, r"steps must be in \[1, 64\]"),
        ({"steps": [SAMPLE_WIDTH + 1]}, r"steps must be in \[1, 64\]"),
        (
            {"uniforms": np.full((1, 3), 0.5)},
            r"uniforms.* \[1,3\] is not compatible with expected shape \[\?,64\]",
        ),
        (
            {"uniforms": np.full((2, SAMPLE_WIDTH), 0.5)},
            "uniforms must have one row per input_ids row",
        ),
        (
            {"uniforms": np.full((1, SAMPLE_WIDTH), 1.5)},
            r"uniforms must be a finite number in \[0, 1\]",
        ),
        (
            {"input_ids": [[1, 2]]},
            r"input_ids.* \[1,2\] is not compatible with expected shape \[\?,1\]",
        ),
        ({"temperature": [-1.0]}, "temperature must be a finite number >= 0"),
        ({"temperature": [np.inf]}, "temperature must be a finite number >= 0"),
        ({"top_k": [-2]}, "top_k must be an integer in"),
        ({"top_p": [0.0]}, r"top_p must be a finite number in \(0, 1\]"),
        ({"top_p": [1.0, 1.0]}, "top_p must have one row per input_ids row"),
        ({"input_ids": [[VOCAB.size]]}, "outside the vocabulary"),
        ({"min_p": [1.5]}, r"min_p must be a finite number in \[0, 1\]"),
        (
            {"repetition_penalty": [0.0]},
            r"repetition_penalty must be a finite number in \(0, 100\]",
        ),
        ({"repetition_penalty": [np.nan]}, "repetition_penalty must be a finite number"),
        ({"frequency_penalty": [2.5]}, r"frequency_penalty must be a finite number in \[-2, 2\]"),
        ({"presence_penalty": [-np.inf]}, r"presence_penalty must be a finite number in \[-2, 2\]"),
        ({"logprobs": [21]}, r"logprobs must be an integer in \[0, 20\]"),
        ({"logit_bias": np.full((1, VOCAB.size), 101.0)}, r"logit_bias must be .* \[-100, 100\]"),
        ({"output_token_counts": np.full((1, VOCAB.size), -1)}, "output_token_counts must be >= 0"),
        ({"prompt_token_mask": np.full((1, VOCAB.size), 2)}, "prompt_token_mask must be 0 or 1"),
        ({"min_p": [0.0, 0.0]}, "min_p must have one row per input_ids row"),
    ],
)
def test_bad_sample_inputs_are_invalid_argument(exported, change, message):
    config, model = exported
    inputs = {
        "input_ids": [[1]],
        "uniforms": np.full((1, SAMPLE_WIDTH), 0.5),
        "steps": [3],
        "temperature": [1.0],
        "top_k": [0],
        "top_p": [1.0],
        **extra_sample_inputs(1, VOCAB.size),
    }
    dtypes = {name: np.asarray(value).dtype for name, value in inputs.items()}
    inputs.update(change)
    dtypes.update(
        {
            "input_ids": np.int32,
            "uniforms": np.float64,
            "steps": np.int32,
            "temperature": np.float64,
            "top_k": np.int32,
            "top_p": np.float64,
        }
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        model["sample"](
            **{k: np.asarray(v, dtypes[k]) for k, v in inputs.items()}, **zeros(config, 1)
        )
