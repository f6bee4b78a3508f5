import numpy as np
import pytest

from trainer.config import TrainingConfig, load_config
from trainer.model import build_model, prefill, state_names, step, zero_states


def test_state_names_follow_the_contract():
    gru = TrainingConfig(cell="gru", num_layers=2, units=(512, 256))
    assert state_names(gru) == [("layer_0_h", 512), ("layer_1_h", 256)]
    lstm = TrainingConfig(cell="lstm", num_layers=1, units=(128,))
    assert state_names(lstm) == [("layer_0_h", 128), ("layer_0_c", 128)]


@pytest.mark.parametrize(
    "preset, rnn_params",
    [
        # GRU (reset_after): 3 * (in*u + u*u + 2u); LSTM: 4 * (in*u + u*u + u)
        ("tutorial-gru1024", 3 * (256 * 1024 + 1024 * 1024 + 2 * 1024)),
        (
            "harry-potter-gru",
            3 * (300 * 512 + 512 * 512 + 2 * 512) + 3 * (512 * 256 + 256 * 256 + 2 * 256),
        ),
        ("chollet-lstm128", 4 * (64 * 128 + 128 * 128 + 128)),
    ],
)
def test_the_seed_models_are_expressible(preset, rnn_params):
    config = load_config(preset)
    vocab = 65
    model = build_model(config, vocab)
    expected = vocab * config.embedding_dim + rnn_params + config.units[-1] * vocab + vocab
    assert model.count_params() == expected
    assert model.output_shape == (None, None, vocab)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_step_and_prefill_reproduce_the_full_sequence(cell):
    config = TrainingConfig(cell=cell, num_layers=2, units=(12, 8), embedding_dim=6, dropout=0.3)
    model = build_model(config, 11)
    ids = np.random.default_rng(0).integers(0, 11, size=(3, 9)).astype("int32")
    full = model(ids, training=False).numpy()

    states = zero_states(config, 3)
    for t in range(ids.shape[1]):
        logits, states = step(model, config, ids[:, t : t + 1], states)
        np.testing.assert_allclose(logits.numpy(), full[:, t], atol=1e-5)

    lengths = np.array([9, 4, 1], dtype="int32")
    logits, prefill_states = prefill(model, config, ids, lengths, zero_states(config, 3))
    np.testing.assert_allclose(logits.numpy(), full[np.arange(3), lengths - 1], atol=1e-5)
    # the states after row 1's 4th character continue exactly like the full sequence
    row = [s[1:2] for s in prefill_states]
    logits, _ = step(model, config, ids[1:2, 4:5], row)
    np.testing.assert_allclose(logits.numpy()[0], full[1, 4], atol=1e-5)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_layers_qualify_for_the_fused_cudnn_kernel(cell):
    """On a GPU, Keras runs a GRU/LSTM as one cuDNN kernel only under these settings
    (keras/src/backend/tensorflow/rnn.py, cudnn_ok); anything else falls back to a loop of
    small kernels, several times slower. Dropout sits between layers, never recurrent."""
    import keras

    from trainer.model import rnn_layers

    config = TrainingConfig(cell=cell, num_layers=2, units=(16, 16), dropout=0.1)
    for layer in rnn_layers(build_model(config, 11), config):
        assert layer.cell.activation is keras.activations.tanh
        assert layer.cell.recurrent_activation is keras.activations.sigmoid
        assert layer.cell.use_bias and not layer.unroll
        assert layer.cell.recurrent_dropout == 0
        assert layer.use_cudnn == "auto"
        if cell == "gru":
            assert layer.cell.reset_after


def test_xla_is_off_by_default_and_can_be_turned_on():
    """XLA slowed training on CPU (bench/results/training_knobs.md), and on a GPU Keras turns it
    off for cuDNN layers anyway: off by default, a config key to turn it on."""
    import tensorflow as tf

    from trainer.training import _compiled_model
    from trainer.vocabulary import Vocabulary

    vocabulary = Vocabulary.from_text("abcdefg")
    config = TrainingConfig(units=(8,), embedding_dim=4)
    strategy = tf.distribute.get_strategy()
    assert _compiled_model(config, vocabulary, strategy, None).jit_compile is False
    assert (
        _compiled_model(config.replace(jit_compile=True), vocabulary, strategy, None).jit_compile
        is True
    )


def test_mixed_precision_trains_in_float16_on_float32_weights_and_inference_is_float32():
    """Mixed precision (for GPUs with float16 units) changes how the training model computes, not
    its weights: the model exports and evaluation build is float32 and takes the same weights."""
    config = TrainingConfig(cell="lstm", units=(16,), embedding_dim=8, mixed_precision=True)
    mixed = build_model(config, 11)
    for layer in mixed.layers[1:-1]:  # embedding, LSTM, dropout
        assert layer.compute_dtype == "float16" and layer.variable_dtype == "float32", layer.name
    assert all(v.dtype == "float32" for v in mixed.weights)
    ids = np.array([[1, 2, 3, 4, 5, 6]], np.int32)
    assert mixed(ids).dtype == "float32"  # logits, and so the loss, stay float32

    inference = build_model(config, 11, inference=True)
    assert {layer.compute_dtype for layer in inference.layers[1:]} == {"float32"}
    inference.set_weights(mixed.get_weights())
    np.testing.assert_allclose(mixed(ids).numpy(), inference(ids).numpy(), atol=1e-2)
    assert (
        build_model(config.replace(mixed_precision=False), 11).layers[2].compute_dtype == "float32"
    )
