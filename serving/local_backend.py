"""In-process backend: the exported SavedModel's signatures called directly with TensorFlow.

Drives the same generation loop as the gRPC client, so with the same seed both produce the same
text; the end-to-end test and the benchmarks use it as the reference.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import tensorflow as tf

from serving.backends import States
from serving.client_errors import IncompatibleModelError
from serving.model_signature import (DETOKENIZE, INPUT_IDS, LENGTHS, LOGITS, PREFILL, SAMPLE,
                                     SAMPLED_IDS, STEP, TEXT, StepSignature, TensorLayout, sample_options)
from serving.sampling import SamplingParams
from serving.tensors import dtype_name

log = logging.getLogger(__name__)


class LocalBackend:
    """A SavedModel directory loaded with ``tf.saved_model.load``."""

    def __init__(self, saved_model_dir: str | os.PathLike) -> None:
        self.path = os.fspath(saved_model_dir)
        if not os.path.isfile(os.path.join(self.path, "saved_model.pb")):
            raise IncompatibleModelError(f"{self.path} is not a SavedModel directory (no saved_model.pb)")
        self._model = tf.saved_model.load(self.path)
        self._functions = dict(self._model.signatures)
        inputs = {name: _input_layout(fn) for name, fn in self._functions.items()}
        outputs = {name: _output_layout(fn) for name, fn in self._functions.items()}
        self._signature = StepSignature.from_layouts(inputs, outputs)
        self._step = self._functions[STEP]
        self._prefill = self._functions[PREFILL]
        log.info("loaded %s: vocabulary %d, states %s", self.path, self._signature.vocab_size,
                 self._signature.state_names)

    @property
    def signature(self) -> StepSignature:
        return self._signature

    @property
    def description(self) -> str:
        return f"SavedModel {self.path}"

    def detokenize(self, ids: np.ndarray) -> list[str]:
        text = self._functions[DETOKENIZE](**{INPUT_IDS: tf.constant(ids, tf.int32)})[TEXT]
        return [t.decode("utf-8") for t in text.numpy().tolist()]

    def prefill(self, ids: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, States]:
        states = {n: tf.constant(v) for n, v in self._signature.zero_states(len(ids)).items()}
        out = self._prefill(**{INPUT_IDS: tf.constant(ids, tf.int32),
                               LENGTHS: tf.constant(lengths, tf.int32)}, **states)
        return self._split(out)

    def step(self, ids: np.ndarray, states: States) -> tuple[np.ndarray, States]:
        return self._split(self._step(**{INPUT_IDS: tf.constant(ids, tf.int32)}, **states))

    def sample(self, ids: np.ndarray, states: States, uniforms: np.ndarray,
               params: SamplingParams) -> tuple[np.ndarray, States]:
        options = {name: tf.constant(value) for name, value in sample_options(params, uniforms).items()}
        out = self._functions[SAMPLE](**{INPUT_IDS: tf.constant(ids, tf.int32)}, **options, **states)
        return self._split(out, SAMPLED_IDS)

    def select_rows(self, states: States, rows: np.ndarray) -> States:
        index = tf.constant(rows, tf.int32)
        return {n: tf.gather(t, index) for n, t in states.items()}

    def close(self) -> None:
        self._functions.clear()

    def _split(self, out: dict, head: str = LOGITS) -> tuple[np.ndarray, States]:
        return out[head].numpy(), {n: out[n] for n in self._signature.state_names}


def _spec_layout(spec: tf.TensorSpec) -> tuple[tuple[int, ...], str]:
    shape = tuple(-1 if d is None else int(d) for d in spec.shape.as_list()) \
        if spec.shape.rank is not None else ()
    return shape, dtype_name(spec.dtype.as_datatype_enum)


def _input_layout(fn) -> TensorLayout:
    return {name: _spec_layout(spec) for name, spec in fn.structured_input_signature[1].items()}


def _output_layout(fn) -> TensorLayout:
    return {name: _spec_layout(spec) for name, spec in fn.structured_outputs.items()}
