"""The serving contract (serving/contract.py) built around a trained model.

Six SavedModel signatures: ``serving_default`` (one step), ``prefill`` (a chunk of right-padded
prompt), ``score`` (a chunk of text, each token's log-probability), ``sample`` (several tokens
sampled in the graph, so one call replaces one call per token), ``tokenize`` and ``detokenize``.
Inputs are validated inside the graph (``tf.ensure_shape`` for shapes, ``tf.debugging`` asserts
for values), so bad shapes, ids or lengths become InvalidArgumentError (gRPC INVALID_ARGUMENT)
on any server, never garbage: TensorFlow Serving feeds tensors by name and checks neither shapes
nor values itself.

The module tracks the ``tf.Variable`` objects under the Keras 3 variables, not the Keras
wrappers, as ``keras.export.ExportArchive`` does: the wrappers export as copies that the
SavedModel's restore op (TF Serving's loader, ``saved_model_cli run``) would fill while the
signature functions read the originals.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from serving import contract
from trainer.config import TrainingConfig
from trainer.export.sample_signature import sample, sample_input_spec
from trainer.export.sampling import log_probabilities
from trainer.export.tokenize import make_tokenizer
from trainer.model import prefill, score, state_names, step
from trainer.vocabulary import Vocabulary


class _ModelRef:
    """Holds the Keras model out of the SavedModel's object graph (see the module docstring)."""

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self.functions: dict = {}  # the signature functions, out of the object graph too


def _with_checked_shapes(function, specs: dict[str, tf.TensorSpec]):
    """``function`` on inputs checked against their specs at run time (``tf.ensure_shape``: rank
    and every fixed dimension), since TF Serving feeds whatever a request holds."""

    def checked(inputs: dict) -> dict:
        return function(
            {name: tf.ensure_shape(value, specs[name].shape) for name, value in inputs.items()}
        )

    checked.__name__ = function.__name__
    return checked


class CharModelSignatures(tf.Module):
    """Holds the model's variables, the vocabulary's code points and the signature functions."""

    def __init__(self, model: keras.Model, config: TrainingConfig, vocabulary: Vocabulary):
        super().__init__(name="charloom")
        self._ref = _ModelRef(model)
        self.model_variables = [v.value for v in model.variables]
        self._config = config
        self._vocab_size = vocabulary.size
        self._states = state_names(config)
        self.tokenizer = make_tokenizer(
            vocabulary
        )  # tracked: its tables are part of the SavedModel

        ids = contract.INPUT_IDS
        state_specs = {
            name: tf.TensorSpec([None, units], tf.float32, name=name)
            for name, units in self._states
        }
        step_spec = {ids: tf.TensorSpec([None, 1], tf.int32, name=ids), **state_specs}
        prefill_spec = {
            ids: tf.TensorSpec([None, contract.PREFILL_WIDTH], tf.int32, name=ids),
            contract.LENGTHS: tf.TensorSpec([None], tf.int32, name=contract.LENGTHS),
            **state_specs,
        }
        sample_spec = sample_input_spec(step_spec, vocabulary.size)
        tokenize_spec = {contract.TEXT: tf.TensorSpec([None], tf.string, name=contract.TEXT)}
        detokenize_spec = {
            ids: tf.TensorSpec([None, contract.DETOKENIZE_WIDTH], tf.int32, name=ids)
        }
        for name, function, spec in (
            ("step", self._step, step_spec),
            ("sample", self._sample, sample_spec),
            ("prefill", self._prefill, prefill_spec),
            ("score", self._score, prefill_spec),
            ("tokenize", self._tokenize, tokenize_spec),
            ("detokenize", self._detokenize, detokenize_spec),
        ):
            # Held out of the object graph: saved as signatures only, each traced once (a
            # tracked tf.function would be traced again for the SavedModel's function library).
            self._ref.functions[name] = tf.function(
                _with_checked_shapes(function, spec), input_signature=[spec]
            )

    @property
    def model(self) -> keras.Model:
        return self._ref.model

    @property
    def config(self) -> TrainingConfig:
        return self._config

    @property
    def state_units(self) -> dict[str, int]:
        """Each state input's name and width."""
        return dict(self._states)

    def function(self, name: str):
        """The tf.function behind a signature (``step``, ``prefill``, ``sample``, ...)."""
        return self._ref.functions[name]

    def signatures(self) -> dict:
        return {
            contract.STEP: self.function("step").get_concrete_function(),
            contract.PREFILL: self.function("prefill").get_concrete_function(),
            contract.SAMPLE: self.function("sample").get_concrete_function(),
            contract.SCORE: self.function("score").get_concrete_function(),
            contract.TOKENIZE: self.function("tokenize").get_concrete_function(),
            contract.DETOKENIZE: self.function("detokenize").get_concrete_function(),
        }

    # -- checks -------------------------------------------------------------------------
    def check_ids(self, ids: tf.Tensor) -> list:
        v = self._vocab_size
        message = f"{contract.OUT_OF_VOCABULARY} [0, {v})"
        return [
            tf.debugging.assert_non_negative(ids, message=message),
            tf.debugging.assert_less(ids, tf.constant(v, tf.int32), message=message),
        ]

    def check_rows(self, inputs: dict, names, batch: tf.Tensor) -> list:
        """Every named input has one row per ``input_ids`` row."""
        return [
            tf.debugging.assert_equal(
                tf.shape(inputs[name])[0],
                batch,
                message=f"{name} must have one row per input_ids row",
            )
            for name in names
        ]

    def check_states(self, inputs: dict, batch: tf.Tensor) -> tuple[list, list[tf.Tensor]]:
        checks, states = [], []
        for name, _ in self._states:
            states.append(inputs[name])
        return checks + self.check_rows(inputs, [n for n, _ in self._states], batch), states

    def _outputs(self, logits: tf.Tensor, states: list[tf.Tensor]) -> dict:
        return self.with_states(
            {contract.LOGITS: tf.ensure_shape(logits, [None, self._vocab_size])}, states
        )

    def with_states(self, out: dict, states: list[tf.Tensor]) -> dict:
        """``out`` plus each state under its signature name."""
        return {**out, **{name: s for (name, _), s in zip(self._states, states)}}

    # -- signatures ---------------------------------------------------------------------
    def _step(self, inputs: dict) -> dict:
        ids = inputs[contract.INPUT_IDS]
        state_checks, states = self.check_states(inputs, tf.shape(ids)[0])
        with tf.control_dependencies(self.check_ids(ids) + state_checks):
            ids = tf.identity(ids)
        logits, new_states = step(self._ref.model, self._config, ids, states)
        return self._outputs(logits, new_states)

    def _sample(self, inputs: dict) -> dict:
        return sample(self, inputs)

    def _prefill(self, inputs: dict) -> dict:
        ids, lengths, states = self._checked_chunk(inputs)
        logits, new_states = prefill(self._ref.model, self._config, ids, lengths, states)
        return self._outputs(logits, new_states)

    def _score(self, inputs: dict) -> dict:
        ids, lengths, states = self._checked_chunk(inputs)
        scored, logits, new_states = score(
            self._ref.model, self._config, ids, lengths, states, log_probabilities
        )
        out = self._outputs(logits, new_states)
        out[contract.TOKEN_LOGPROBS] = tf.ensure_shape(scored, [None, contract.PREFILL_WIDTH])
        return out

    def _checked_chunk(self, inputs: dict) -> tuple[tf.Tensor, tf.Tensor, list[tf.Tensor]]:
        """``prefill``'s and ``score``'s inputs, checked: ids, lengths and states."""
        ids, lengths = inputs[contract.INPUT_IDS], inputs[contract.LENGTHS]
        batch, width = tf.shape(ids)[0], tf.shape(ids)[1]
        state_checks, states = self.check_states(inputs, batch)
        length_message = (
            f"lengths must be in [0, {contract.PREFILL_WIDTH}] with one length per input_ids row"
        )
        checks = (
            self.check_ids(ids)
            + state_checks
            + [
                tf.debugging.assert_equal(tf.shape(lengths)[0], batch, message=length_message),
                tf.debugging.assert_non_negative(lengths, message=length_message),
                tf.debugging.assert_less_equal(lengths, width, message=length_message),
            ]
        )
        with tf.control_dependencies(checks):
            ids = tf.identity(ids)
        return ids, lengths, states

    def _tokenize(self, inputs: dict) -> dict:
        ids, lengths = self.tokenizer.tokenize(inputs[contract.TEXT])
        return {contract.INPUT_IDS: ids, contract.LENGTHS: lengths}

    def _detokenize(self, inputs: dict) -> dict:
        """Each row's tokens joined; NO_ID entries are padding and skipped."""
        input_ids = inputs[contract.INPUT_IDS]
        padding = tf.equal(input_ids, contract.NO_ID)
        with tf.control_dependencies(self.check_ids(tf.where(padding, 0, input_ids))):
            tokens = tf.ragged.boolean_mask(input_ids, tf.logical_not(padding))
        return {contract.TEXT: self.tokenizer.detokenize(tokens)}
