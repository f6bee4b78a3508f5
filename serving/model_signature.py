"""What a served charloom model looks like, learned from its signatures (never from trainer/).

Contract (written by trainer/export.py): ``serving_default`` takes ``input_ids`` int32 [-1, 1]
plus float32 state inputs [-1, units] and returns ``logits`` float32 [-1, V] plus the new states
under the same names; ``prefill`` takes right-padded ``input_ids`` [-1, -1], ``lengths`` [-1] and
the states; ``detokenize`` maps ids [-1, -1] to strings. The state inputs are every input of
``serving_default`` except ``input_ids``; zero states are the initial state. Optional:
``sample`` takes ``input_ids`` [-1, 1], the states, ``uniforms`` float64 [-1, -1] (one column
per character), ``temperature`` and ``top_p`` float64 [-1], ``top_k`` int32 [-1] and returns
``sampled_ids`` int32 [-1, -1] plus the states; a model without it is driven one step per call.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np
from tensorflow_serving.apis import get_model_metadata_pb2

from serving.client_errors import IncompatibleModelError
from serving.sampling import SamplingParams
from serving.tensors import dtype_name

STEP = "serving_default"
PREFILL = "prefill"
SAMPLE = "sample"
TOKENIZE = "tokenize"
DETOKENIZE = "detokenize"
INPUT_IDS = "input_ids"
LENGTHS = "lengths"
LOGITS = "logits"
TEXT = "text"
UNIFORMS = "uniforms"
TEMPERATURE = "temperature"
TOP_K = "top_k"
TOP_P = "top_p"
SAMPLED_IDS = "sampled_ids"

# name -> (shape with -1 for unknown dimensions, dtype name such as "float" or "int32")
TensorLayout = Mapping[str, tuple[tuple[int, ...], str]]


@dataclasses.dataclass(frozen=True)
class StateSpec:
    name: str
    units: int


@dataclasses.dataclass(frozen=True)
class StepSignature:
    """The recurrent interface of a served model: its states, vocabulary size and signatures."""

    vocab_size: int
    states: tuple[StateSpec, ...]
    signature_names: frozenset[str]

    @property
    def can_sample(self) -> bool:
        """Whether the model samples several characters per call (its ``sample`` signature)."""
        return SAMPLE in self.signature_names

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)

    def zero_states(self, batch: int) -> dict[str, np.ndarray]:
        return {s.name: np.zeros((batch, s.units), dtype=np.float32) for s in self.states}

    @classmethod
    def from_layouts(cls, inputs: Mapping[str, TensorLayout],
                     outputs: Mapping[str, TensorLayout]) -> "StepSignature":
        """Validate the contract; ``inputs``/``outputs`` map signature name -> tensor layouts."""
        for name in (STEP, PREFILL, DETOKENIZE):
            if name not in inputs:
                raise IncompatibleModelError(
                    f"the model has no {name!r} signature (it has: {', '.join(sorted(inputs)) or 'none'}); "
                    "was it exported by `charloom export`?")
        step_in, step_out = inputs[STEP], outputs[STEP]
        _expect(STEP, step_in, INPUT_IDS, "int32", 2)
        _expect(STEP, step_out, LOGITS, "float", 2)
        vocab_size = step_out[LOGITS][0][1]
        if vocab_size <= 0:
            raise IncompatibleModelError(f"{STEP} output {LOGITS!r} needs a static vocabulary dimension, "
                                         f"got shape {list(step_out[LOGITS][0])}")
        states = []
        for name in sorted(n for n in step_in if n != INPUT_IDS):
            _expect(STEP, step_in, name, "float", 2)
            units = step_in[name][0][1]
            if units <= 0:
                raise IncompatibleModelError(f"state input {name!r} needs a static size, "
                                             f"got shape {list(step_in[name][0])}")
            for sig, layout in ((STEP, step_out), (PREFILL, inputs[PREFILL]), (PREFILL, outputs[PREFILL])):
                if name not in layout:
                    raise IncompatibleModelError(f"state {name!r} is missing from {sig!r}")
            states.append(StateSpec(name, units))
        _expect(PREFILL, inputs[PREFILL], INPUT_IDS, "int32", 2)
        _expect(PREFILL, inputs[PREFILL], LENGTHS, "int32", 1)
        _expect(PREFILL, outputs[PREFILL], LOGITS, "float", 2)
        if SAMPLE in inputs:
            _check_sample(inputs[SAMPLE], outputs[SAMPLE], [s.name for s in states])
        return cls(vocab_size=vocab_size, states=tuple(states), signature_names=frozenset(inputs))

    @classmethod
    def from_signature_def_map(cls, signature_defs: get_model_metadata_pb2.SignatureDefMap) -> "StepSignature":
        """From GetModelMetadata's ``signature_def`` field (TF Serving or the local server)."""
        inputs, outputs = {}, {}
        for name, sig in signature_defs.signature_def.items():
            inputs[name] = {k: _layout(v) for k, v in sig.inputs.items()}
            outputs[name] = {k: _layout(v) for k, v in sig.outputs.items()}
        return cls.from_layouts(inputs, outputs)


def sample_options(params: SamplingParams, uniforms: np.ndarray) -> dict[str, np.ndarray]:
    """The ``sample`` inputs besides ids and states: ``uniforms`` [rows, steps] and the options per row."""
    rows = uniforms.shape[0]
    return {UNIFORMS: np.asarray(uniforms, np.float64),
            TEMPERATURE: np.full(rows, params.temperature, np.float64),
            TOP_K: np.full(rows, params.top_k, np.int32),
            TOP_P: np.full(rows, params.top_p, np.float64)}


def _layout(info) -> tuple[tuple[int, ...], str]:
    if info.tensor_shape.unknown_rank:
        return (), dtype_name(info.dtype)
    return tuple(int(d.size) for d in info.tensor_shape.dim), dtype_name(info.dtype)


def _expect(signature: str, layout: TensorLayout, name: str, dtype: str, rank: int) -> None:
    if name not in layout:
        raise IncompatibleModelError(f"signature {signature!r} has no tensor {name!r} "
                                     f"(it has: {', '.join(sorted(layout))})")
    shape, actual = layout[name]
    if actual != dtype or len(shape) != rank:
        raise IncompatibleModelError(f"{signature!r} tensor {name!r} is {actual} {list(shape)}, "
                                     f"expected {dtype} of rank {rank}")


def _check_sample(inputs: TensorLayout, outputs: TensorLayout, state_names: list[str]) -> None:
    for name, dtype, rank in ((INPUT_IDS, "int32", 2), (UNIFORMS, "double", 2), (TEMPERATURE, "double", 1),
                              (TOP_K, "int32", 1), (TOP_P, "double", 1)):
        _expect(SAMPLE, inputs, name, dtype, rank)
    _expect(SAMPLE, outputs, SAMPLED_IDS, "int32", 2)
    for name in state_names:
        if name not in inputs or name not in outputs:
            raise IncompatibleModelError(f"state {name!r} is missing from {SAMPLE!r}")
