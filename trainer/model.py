"""The character model and the two ways its one set of weights runs.

``build_model`` is the training model: ids ``[B, T]`` -> logits ``[B, T, V]`` over whole
sequences. ``step`` and ``prefill`` run the same layers for inference with the RNN states
carried explicitly as tensors (no ``stateful=True`` model rebuilt at batch size 1): ``step``
calls each layer's cell once (no while loop), ``prefill`` calls the cells in a loop over
right-padded prompts, as far as the longest row goes; a row's state stops changing after its
last real token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
import tensorflow as tf

from serving.contract import INPUT_IDS, state_name
from trainer.config import TrainingConfig

if TYPE_CHECKING:
    from trainer.checkpoints import Checkpoint

EMBEDDING = "embedding"
LOGITS = "logits"
MIXED_PRECISION = "mixed_float16"


def rnn_layer_name(index: int) -> str:
    return f"rnn_{index}"


def state_names(config: TrainingConfig) -> list[tuple[str, int]]:
    """Names and widths of the RNN states in signature order: ``layer_i_h`` (and ``layer_i_c`` for LSTM)."""
    names: list[tuple[str, int]] = []
    for i, units in enumerate(config.units):
        names.append((state_name(i, "h"), units))
        if config.cell == "lstm":
            names.append((state_name(i, "c"), units))
    return names


def states_per_layer(config: TrainingConfig) -> int:
    return 2 if config.cell == "lstm" else 1


def _rnn(cell: str, units: int, name: str, policy: str | None) -> keras.layers.Layer:
    layer_class = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}[cell]
    # return_state lets inference read the final states of the very layers that trained.
    return layer_class(units, return_sequences=True, return_state=True, name=name, dtype=policy)


def build_model(config: TrainingConfig, vocab_size: int, *, inference: bool = False) -> keras.Model:
    """Embedding -> ``num_layers`` GRU/LSTM layers (dropout between) -> Dense logits.

    With ``config.mixed_precision`` the training model computes in float16 on float32 weights
    (Keras' ``mixed_float16`` policy; the logits, and so the loss, stay float32). ``inference=True``
    builds the same layers in float32, the model exports and evaluation load the weights into.
    """
    policy = MIXED_PRECISION if config.mixed_precision and not inference else None
    ids = keras.Input(shape=(None,), dtype="int32", name=INPUT_IDS)
    x = keras.layers.Embedding(vocab_size, config.embedding_dim, name=EMBEDDING, dtype=policy)(ids)
    for i, units in enumerate(config.units):
        x = _rnn(config.cell, units, rnn_layer_name(i), policy)(x)[0]
        # Always present (rate 0 is the identity), so a checkpoint resumes under another dropout.
        x = keras.layers.Dropout(config.dropout, name=f"dropout_{i}", dtype=policy)(x)
    logits = keras.layers.Dense(vocab_size, name=LOGITS, dtype="float32")(x)
    return keras.Model(ids, logits, name=f"charloom_{config.cell}")


def inference_model(model: keras.Model, config: TrainingConfig, vocab_size: int) -> keras.Model:
    """``model`` itself, or for a mixed-precision training model its float32 twin holding the
    same weights: what the export's float32 signatures are traced from."""
    if not config.mixed_precision:
        return model
    twin = build_model(config, vocab_size, inference=True)
    twin.set_weights(model.get_weights())
    return twin


def rnn_layers(model: keras.Model, config: TrainingConfig) -> list[keras.layers.Layer]:
    return [model.get_layer(rnn_layer_name(i)) for i in range(config.num_layers)]


def zero_states(config: TrainingConfig, batch_size: int) -> list[tf.Tensor]:
    return [tf.zeros([batch_size, units], tf.float32) for _, units in state_names(config)]


def _group(states: list[tf.Tensor], config: TrainingConfig) -> list[list[tf.Tensor]]:
    """Flat signature-order states -> one list per layer."""
    k = states_per_layer(config)
    return [list(states[i * k : (i + 1) * k]) for i in range(config.num_layers)]


def _advance(
    model: keras.Model, config: TrainingConfig, ids: tf.Tensor, states: list[tf.Tensor]
) -> list[tf.Tensor]:
    """Feed one id per row (``[B]``): the new states, in signature order."""
    x = model.get_layer(EMBEDDING)(ids)
    new_states: list[tf.Tensor] = []
    for layer, layer_states in zip(rnn_layers(model, config), _group(states, config)):
        x, updated = layer.cell(x, layer_states, training=False)
        new_states.extend(updated)
    return new_states


def _logits(model: keras.Model, config: TrainingConfig, states: list[tf.Tensor]) -> tf.Tensor:
    """Logits from the top layer's h: for GRU and LSTM the layer's output is its h state."""
    return model.get_layer(LOGITS)(states[-states_per_layer(config)])


def step(
    model: keras.Model, config: TrainingConfig, ids: tf.Tensor, states: list[tf.Tensor]
) -> tuple[tf.Tensor, list[tf.Tensor]]:
    """One character per row: ids ``[B, 1]`` + states -> logits ``[B, V]`` + new states.

    Calls each layer's cell directly: the same math the layer's loop applies per time step.
    """
    new_states = _advance(model, config, ids[:, 0], states)
    return _logits(model, config, new_states), new_states


def prefill(
    model: keras.Model,
    config: TrainingConfig,
    ids: tf.Tensor,
    lengths: tf.Tensor,
    states: list[tf.Tensor],
) -> tuple[tf.Tensor, list[tf.Tensor]]:
    """Right-padded prompts ``[B, T]`` with ``lengths`` in ``[0, T]`` -> logits after each row's
    last real token ``[B, V]`` + the states after it.

    Runs ``max(lengths)`` steps, not ``T``: a short batch costs what it feeds. A row of length 0
    keeps its states, and its logits are those of its incoming states.
    """
    _, logits, states = _feed(model, config, ids, lengths, states, None)
    return logits, states


def score(
    model: keras.Model,
    config: TrainingConfig,
    ids: tf.Tensor,
    lengths: tf.Tensor,
    states: list[tf.Tensor],
    log_softmax,
) -> tuple[tf.Tensor, tf.Tensor, list[tf.Tensor]]:
    """`prefill` that also scores the row's own tokens: ``[B, T]`` log-probabilities (``log_softmax``
    of each step's logits, float64 [B, V] -> [B, V]) of ``ids[:, t + 1]`` after ``ids[:, :t + 1]``,
    0 from each row's last real token on; the logits after the last real token; the states."""
    return _feed(model, config, ids, lengths, states, log_softmax)


def _feed(model, config, ids, lengths, states, log_softmax):
    """The loop of `prefill` and `score` (``log_softmax`` None: nothing scored, zeros)."""
    width = tf.shape(ids)[1]
    longest = tf.reduce_max(tf.concat([lengths, tf.zeros([1], lengths.dtype)], axis=0))
    scored = tf.zeros(tf.shape(ids), tf.float32)
    for t in tf.range(longest):
        tf.autograph.experimental.set_loop_options(
            shape_invariants=[(s, tf.TensorShape([None, s.shape[-1]])) for s in states]
        )
        live = (t < lengths)[:, None]
        new_states = _advance(model, config, ids[:, t], states)
        states = [tf.where(live, new, old) for new, old in zip(new_states, states)]
        if log_softmax is not None:
            following = ids[:, tf.minimum(t + 1, width - 1)]
            log_p = log_softmax(_logits(model, config, states))
            picked = tf.gather(log_p, following, batch_dims=1)
            picked = tf.where(t + 1 < lengths, tf.cast(picked, tf.float32), 0.0)
            scored += picked[:, None] * tf.one_hot(t, width, dtype=tf.float32)[None, :]
    return scored, _logits(model, config, states), states


def load_model(checkpoint: Checkpoint) -> keras.Model:
    """Rebuild the model from a checkpoint's config, in float32 for inference, and load its weights."""
    from trainer.checkpoints import load_weights

    model = build_model(checkpoint.config, checkpoint.vocabulary.size, inference=True)
    load_weights(model, checkpoint)
    return model
