"""The serving contract: the five SavedModel signatures built around a trained model.

``serving_default`` (one step), ``prefill`` (a right-padded prompt), ``sample`` (several
characters sampled in the graph, so one call replaces one call per character), ``tokenize``
and ``detokenize``. Inputs are validated inside the graph with ``tf.debugging`` asserts, so bad
ids or lengths become InvalidArgumentError (gRPC INVALID_ARGUMENT), never garbage.
The tables are documented in the README (section "Export").
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from trainer.config import TrainingConfig
from trainer.model import prefill, state_names, step
from trainer.sampling import sample_ids
from trainer.vocabulary import Vocabulary

OUT_OF_VOCABULARY = "input_ids outside the vocabulary"
MAX_SAMPLE_STEPS = 1024  # characters per `sample` call: bounds the work one request can ask for


class CharModelSignatures(tf.Module):
    """Holds the model's variables, the vocabulary's code points and the signature functions."""

    def __init__(self, model: keras.Model, config: TrainingConfig, vocabulary: Vocabulary):
        super().__init__(name="charloom")
        self.model = model
        self.model_variables = list(model.variables)  # tracked explicitly, as keras' ExportArchive does
        self._config = config
        self._vocab_size = vocabulary.size
        self._states = state_names(config)
        # The vocabulary is in code-point order, so a binary search maps code points to ids.
        self._codepoints = tf.constant(np.array([ord(c) for c in vocabulary.chars], dtype=np.int32))

        state_specs = {name: tf.TensorSpec([None, units], tf.float32, name=name)
                       for name, units in self._states}
        step_spec = {"input_ids": tf.TensorSpec([None, 1], tf.int32, name="input_ids"), **state_specs}
        prefill_spec = {"input_ids": tf.TensorSpec([None, None], tf.int32, name="input_ids"),
                        "lengths": tf.TensorSpec([None], tf.int32, name="lengths"), **state_specs}
        per_row = {"temperature": tf.TensorSpec([None], tf.float64, name="temperature"),
                   "top_k": tf.TensorSpec([None], tf.int32, name="top_k"),
                   "top_p": tf.TensorSpec([None], tf.float64, name="top_p")}
        sample_spec = {**step_spec, "uniforms": tf.TensorSpec([None, None], tf.float64, name="uniforms"),
                       **per_row}
        self.step = tf.function(self._step, input_signature=[step_spec])
        self.sample = tf.function(self._sample, input_signature=[sample_spec])
        self.prefill = tf.function(self._prefill, input_signature=[prefill_spec])
        self.tokenize = tf.function(
            self._tokenize, input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        self.detokenize = tf.function(
            self._detokenize, input_signature=[tf.TensorSpec([None, None], tf.int32, name="input_ids")])

    def signatures(self) -> dict:
        return {"serving_default": self.step.get_concrete_function(),
                "prefill": self.prefill.get_concrete_function(),
                "sample": self.sample.get_concrete_function(),
                "tokenize": self.tokenize.get_concrete_function(),
                "detokenize": self.detokenize.get_concrete_function()}

    # -- checks -------------------------------------------------------------------------
    def _check_ids(self, ids: tf.Tensor) -> list:
        v = self._vocab_size
        message = f"{OUT_OF_VOCABULARY} [0, {v})"
        return [tf.debugging.assert_non_negative(ids, message=message),
                tf.debugging.assert_less(ids, tf.constant(v, tf.int32), message=message)]

    def _check_states(self, inputs: dict, batch: tf.Tensor) -> tuple[list, list[tf.Tensor]]:
        checks, states = [], []
        for name, _ in self._states:
            state = inputs[name]
            checks.append(tf.debugging.assert_equal(
                tf.shape(state)[0], batch,
                message=f"state {name} must have one row per input_ids row"))
            states.append(state)
        return checks, states

    def _outputs(self, logits: tf.Tensor, states: list[tf.Tensor]) -> dict:
        return self._with_states({"logits": tf.ensure_shape(logits, [None, self._vocab_size])}, states)

    def _with_states(self, out: dict, states: list[tf.Tensor]) -> dict:
        """``out`` plus each state under its signature name."""
        return {**out, **{name: s for (name, _), s in zip(self._states, states)}}

    # -- signatures ---------------------------------------------------------------------
    def _step(self, inputs: dict) -> dict:
        ids = inputs["input_ids"]
        state_checks, states = self._check_states(inputs, tf.shape(ids)[0])
        with tf.control_dependencies(self._check_ids(ids) + state_checks):
            ids = tf.identity(ids)
        logits, new_states = step(self.model, self._config, ids, states)
        return self._outputs(logits, new_states)

    def _sample(self, inputs: dict) -> dict:
        """Feed ``input_ids``, sample, feed that, ...: one column of ``uniforms`` per character.

        Returns the sampled ids [B, steps] and the states after feeding all but the last of them
        (the last is the next call's ``input_ids``), as ``steps`` step calls would.
        """
        ids, uniforms = inputs["input_ids"], inputs["uniforms"]
        temperature, top_k, top_p = inputs["temperature"], inputs["top_k"], inputs["top_p"]
        batch, steps = tf.shape(ids)[0], tf.shape(uniforms)[1]
        state_checks, states = self._check_states(inputs, batch)
        checks = self._check_ids(ids) + state_checks + [
            tf.debugging.assert_equal(tf.shape(inputs[name])[0], batch,
                                      message=f"{name} must have one row per input_ids row")
            for name in ("uniforms", "temperature", "top_k", "top_p")] + [
            tf.debugging.assert_greater_equal(steps, 1, message="uniforms needs one column per step"),
            tf.debugging.assert_less_equal(steps, MAX_SAMPLE_STEPS,
                                           message=f"at most {MAX_SAMPLE_STEPS} steps (uniforms columns) per call"),
            tf.debugging.assert_greater_equal(uniforms, tf.constant(0.0, tf.float64),
                                              message="uniforms must be in [0, 1]"),
            tf.debugging.assert_less_equal(uniforms, tf.constant(1.0, tf.float64),
                                           message="uniforms must be in [0, 1]"),
            tf.debugging.assert_greater_equal(temperature, tf.constant(0.0, tf.float64),
                                              message="temperature must be >= 0 (0 = greedy)"),
            tf.debugging.assert_all_finite(temperature, message="temperature must be finite"),
            tf.debugging.assert_non_negative(top_k, message="top_k must be >= 0 (0 = off)"),
            tf.debugging.assert_greater(top_p, tf.constant(0.0, tf.float64), message="top_p must be in (0, 1]"),
            tf.debugging.assert_less_equal(top_p, tf.constant(1.0, tf.float64), message="top_p must be in (0, 1]"),
        ]
        with tf.control_dependencies(checks):
            ids, steps = tf.identity(ids), tf.identity(steps)
        sampled = tf.TensorArray(tf.int32, size=steps, element_shape=tf.TensorShape([None]))
        for i in tf.range(steps):
            logits, states = step(self.model, self._config, ids, states)
            next_ids = sample_ids(logits, uniforms[:, i], temperature, top_k, top_p)
            sampled = sampled.write(i, next_ids)
            ids = next_ids[:, None]
        return self._with_states({"sampled_ids": tf.transpose(sampled.stack())}, states)

    def _prefill(self, inputs: dict) -> dict:
        ids, lengths = inputs["input_ids"], inputs["lengths"]
        batch, steps = tf.shape(ids)[0], tf.shape(ids)[1]
        state_checks, states = self._check_states(inputs, batch)
        length_message = "lengths must be in [1, T] with one length per input_ids row (T = padded length)"
        checks = self._check_ids(ids) + state_checks + [
            tf.debugging.assert_equal(tf.shape(lengths)[0], batch, message=length_message),
            tf.debugging.assert_greater_equal(lengths, 1, message=length_message),
            tf.debugging.assert_less_equal(lengths, steps, message=length_message),
        ]
        with tf.control_dependencies(checks):
            ids = tf.identity(ids)
        logits, new_states = prefill(self.model, self._config, ids, lengths, states)
        return self._outputs(logits, new_states)

    def _tokenize(self, text: tf.Tensor) -> dict:
        # errors="strict": invalid UTF-8 raises InvalidArgumentError.
        codepoints = tf.strings.unicode_decode(text, "UTF-8", errors="strict")
        flat = codepoints.flat_values
        index = tf.searchsorted(self._codepoints, flat, side="left", out_type=tf.int32)
        found = tf.gather(self._codepoints, tf.minimum(index, self._vocab_size - 1)) == flat
        ids = codepoints.with_flat_values(tf.where(found, index, -1))
        return {"input_ids": ids.to_tensor(default_value=0),
                "lengths": tf.cast(ids.row_lengths(), tf.int32)}

    def _detokenize(self, input_ids: tf.Tensor) -> dict:
        with tf.control_dependencies(self._check_ids(input_ids)):
            input_ids = tf.identity(input_ids)
        text = tf.strings.unicode_encode(tf.gather(self._codepoints, input_ids), "UTF-8")
        return {"text": text}
