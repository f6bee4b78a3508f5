"""The ``sample`` signature samples in the graph exactly as the client samples step by step."""

import numpy as np
import pytest
import tensorflow as tf

from serving.sampling import SamplingParams, choose_ids, probabilities
from trainer.config import TrainingConfig
from trainer.export import export_saved_model
from trainer.model import build_model, state_names
from trainer.signatures import MAX_SAMPLE_STEPS
from trainer.vocabulary import Vocabulary

VOCAB = Vocabulary.from_text("ROMEO:\nBut soft, what light through yonder window breaks? 你好\n")
ROW_PARAMS = [SamplingParams(0.8, top_k=5, top_p=0.9), SamplingParams(0.0), SamplingParams(1.3),
              SamplingParams(1.0, top_p=0.5), SamplingParams(2.0, top_k=3)]


@pytest.fixture(scope="module", params=[("gru", 2), ("lstm", 1)], ids=["gru2", "lstm1"])
def exported(request, tmp_path_factory):
    cell, layers = request.param
    config = TrainingConfig(cell=cell, num_layers=layers, units=(24,) * layers, embedding_dim=8)
    model = build_model(config, VOCAB.size)
    # random weights give near-uniform logits; scale the output layer so top-k/top-p bite
    kernel, bias = model.get_layer("logits").get_weights()
    model.get_layer("logits").set_weights([kernel * 8.0, bias])
    path = export_saved_model(model, config, VOCAB, tmp_path_factory.mktemp("models"), {})
    return config, tf.saved_model.load(str(path))


def zeros(config, batch):
    return {name: tf.zeros([batch, units]) for name, units in state_names(config)}


def per_row(params):
    return {"temperature": tf.constant([p.temperature for p in params], tf.float64),
            "top_k": tf.constant([p.top_k for p in params], tf.int32),
            "top_p": tf.constant([p.top_p for p in params], tf.float64)}


def test_sample_equals_step_calls_with_client_sampling(exported):
    config, loaded = exported
    rows, steps = len(ROW_PARAMS), 40
    uniforms = 1.0 - np.random.default_rng(0).random((rows, steps))
    start = np.array([[1], [2], [3], [4], [5]], np.int32)

    out = loaded.signatures["sample"](input_ids=tf.constant(start), uniforms=tf.constant(uniforms),
                                      **per_row(ROW_PARAMS), **zeros(config, rows))
    sampled = out["sampled_ids"].numpy()
    assert sampled.shape == (rows, steps) and sampled.dtype == np.int32

    step = loaded.signatures["serving_default"]
    ids, states, expected = start, zeros(config, rows), []
    for i in range(steps):
        result = step(input_ids=tf.constant(ids), **states)
        states = {name: result[name] for name, _ in state_names(config)}
        logits = result["logits"].numpy()
        chosen = [choose_ids(probabilities(logits[r:r + 1], p), uniforms[r:r + 1, i])[0]
                  for r, p in enumerate(ROW_PARAMS)]
        expected.append(chosen)
        ids = np.array(chosen, np.int32)[:, None]
    assert sampled.tolist() == np.array(expected).T.tolist()
    assert len(set(sampled[0].tolist())) > 1 and len(set(sampled[2].tolist())) > 1  # really sampled
    # the states are those after feeding all but the last sampled id
    for name, _ in state_names(config):
        assert np.abs(out[name].numpy() - states[name].numpy()).max() <= 1e-5


def test_rows_do_not_depend_on_their_batch(exported):
    config, loaded = exported
    uniforms = 1.0 - np.random.default_rng(1).random((2, 12))
    both = loaded.signatures["sample"](input_ids=tf.constant([[3], [7]]), uniforms=tf.constant(uniforms),
                                       **per_row(ROW_PARAMS[:2]), **zeros(config, 2))["sampled_ids"]
    alone = loaded.signatures["sample"](input_ids=tf.constant([[7]]), uniforms=tf.constant(uniforms[1:]),
                                        **per_row(ROW_PARAMS[1:2]), **zeros(config, 1))["sampled_ids"]
    assert both.numpy()[1].tolist() == alone.numpy()[0].tolist()


@pytest.mark.parametrize("change, message", [
    ({"uniforms": np.full((1, 0), 0.5)}, "one column per step"),
    ({"uniforms": np.full((1, MAX_SAMPLE_STEPS + 1), 0.5)}, f"at most {MAX_SAMPLE_STEPS} steps"),
    ({"uniforms": np.full((2, 3), 0.5)}, "uniforms must have one row per input_ids row"),
    ({"uniforms": np.full((1, 3), 1.5)}, r"uniforms must be in \[0, 1\]"),
    ({"temperature": [-1.0]}, "temperature must be >= 0"),
    ({"temperature": [np.inf]}, "temperature must be finite"),
    ({"top_k": [-2]}, "top_k must be >= 0"),
    ({"top_p": [0.0]}, r"top_p must be in \(0, 1\]"),
    ({"top_p": [1.0, 1.0]}, "top_p must have one row per input_ids row"),
    ({"input_ids": [[VOCAB.size]]}, "outside the vocabulary"),
])
def test_bad_sample_inputs_are_invalid_argument(exported, change, message):
    config, loaded = exported
    inputs = {"input_ids": [[1]], "uniforms": np.full((1, 3), 0.5), "temperature": [1.0],
              "top_k": [0], "top_p": [1.0], **change}
    dtypes = {"input_ids": tf.int32, "uniforms": tf.float64, "temperature": tf.float64,
              "top_k": tf.int32, "top_p": tf.float64}
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        loaded.signatures["sample"](**{k: tf.constant(v, dtypes[k]) for k, v in inputs.items()},
                                    **zeros(config, 1))
