"""The model every serving measurement shares, and the TF tutorial's way of generating with it.

One Keras model (the tutorial's architecture by default: embedding 256, GRU 1024, random weights
seeded, or a trained checkpoint's) is exported once as a SavedModel; the same in-memory layers
drive the tutorial-style eager loop, so every system runs identical weights.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer.config import TrainingConfig, load_config
from trainer.corpus import load_corpus
from trainer.vocabulary import Vocabulary


@dataclass
class BenchModel:
    keras_model: object  # keras.Model, the training graph whose layers the tutorial loop calls
    config: TrainingConfig
    vocabulary: Vocabulary
    saved_model_dir: Path
    corpus_text: str
    weights: str  # "random (seed 0)" or the checkpoint path


def prepare_model(
    model_base_path: Path, config_name: str = "tutorial-gru1024", checkpoint: Path | None = None
) -> BenchModel:
    """Build (or load) the model and export it as version 1 under ``model_base_path``."""
    import keras

    from trainer.checkpoints import read_checkpoint
    from trainer.export import export_saved_model
    from trainer.model import build_model, load_model
    from trainer.runs import resolve_checkpoint

    corpus = load_corpus("shakespeare")
    if checkpoint is not None:
        ckpt = read_checkpoint(resolve_checkpoint(Path(checkpoint), prefer="best"))
        model, config, vocabulary = load_model(ckpt), ckpt.config, ckpt.vocabulary
        weights = str(checkpoint)
    else:
        config = load_config(config_name)
        vocabulary = Vocabulary.from_text(corpus.text)
        keras.utils.set_random_seed(0)
        model = build_model(config, vocabulary.size)
        weights = "random (seed 0)"
    path = export_saved_model(
        model, config, vocabulary, model_base_path, {"source": {"benchmark": "bench/serving.py"}}
    )
    return BenchModel(model, config, vocabulary, path, corpus.text, weights)


class TutorialLoop:
    """The TF text-generation tutorial's OneStep, called eagerly one character at a time.

    Per character: embedding -> GRU (return_state, the previous state passed in) -> Dense ->
    divide by temperature -> ``tf.random.categorical``, exactly the tutorial's ``MyModel.call``
    plus ``OneStep.generate_one_step`` (ids in, ids out; the string lookups are left out, which
    only makes this baseline faster). ``compiled=True`` wraps the step in ``tf.function`` as the
    tutorial's OneStep does, for reference.
    """

    def __init__(
        self, bench_model: BenchModel, compiled: bool = False, temperature: float = 1.0
    ) -> None:
        import tensorflow as tf

        if bench_model.config.num_layers != 1:
            raise ValueError("the tutorial loop is written for one RNN layer")
        model = bench_model.keras_model
        self._embedding = model.get_layer("embedding")
        self._rnn = model.get_layer("rnn_0")
        self._dense = model.get_layer("logits")
        self._temperature = temperature
        self._units = bench_model.config.units[0]
        self._cell = bench_model.config.cell
        self._step = tf.function(self._eager_step) if compiled else self._eager_step

    def _eager_step(self, ids, states):
        import tensorflow as tf

        x = self._embedding(ids)
        x, *states = self._rnn(x, initial_state=states, training=False)
        logits = self._dense(x)[:, -1, :] / self._temperature
        return tf.random.categorical(logits, num_samples=1, dtype=tf.int32), states

    def generate(self, first_id: int, steps: int, seed: int = 0) -> tuple[np.ndarray, list[float]]:
        """``steps`` characters after ``first_id``; returns the ids and each step's duration."""
        import tensorflow as tf

        tf.random.set_seed(seed)
        n_states = 2 if self._cell == "lstm" else 1
        states = [tf.zeros([1, self._units]) for _ in range(n_states)]
        ids = tf.constant([[first_id]], tf.int32)
        out, durations = [], []
        for _ in range(steps):
            started = time.perf_counter()
            ids, states = self._step(ids, states)
            out.append(int(ids.numpy()[0, 0]))
            durations.append(time.perf_counter() - started)
        return np.array(out, np.int32), durations


def recurrent_kernel(bench_model: BenchModel) -> np.ndarray:
    """The first RNN layer's recurrent weights ``[units, gates * units]`` as float32 numpy."""
    cell = bench_model.keras_model.get_layer("rnn_0").cell
    return np.asarray(cell.recurrent_kernel.numpy(), np.float32)


def matvec_floor_numpy(kernel: np.ndarray, steps: int) -> float:
    """Seconds for ``steps`` dependent h @ W products in numpy: the sequential floor of a prefill."""
    h = np.zeros((1, kernel.shape[0]), np.float32)
    for _ in range(5):
        h @ kernel
    started = time.perf_counter()
    for _ in range(steps):
        h = np.tanh((h @ kernel)[:, : kernel.shape[0]])
    return time.perf_counter() - started


def matvec_floor_tf(kernel: np.ndarray, steps: int) -> float:
    """The same ``steps`` dependent products inside one TensorFlow while loop (no Python per step)."""
    import tensorflow as tf

    units = kernel.shape[0]
    weights = tf.constant(kernel)

    @tf.function
    def loop(h, n):
        for _ in tf.range(n):
            h = tf.tanh(tf.matmul(h, weights)[:, :units])
        return h

    h = tf.zeros([1, units])
    loop(h, tf.constant(5)).numpy()
    started = time.perf_counter()
    loop(h, tf.constant(steps)).numpy()
    return time.perf_counter() - started
