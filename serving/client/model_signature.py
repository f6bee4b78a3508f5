"""What a served charloom model looks like, learned from its signatures (never from trainer/).

The contract is serving/contract.py. The state inputs are every input of ``serving_default``
except ``input_ids``; zero states are the initial state. Fixed widths are read from the
signatures: ``prefill``'s ``input_ids`` (a prompt takes as many calls as it has chunks of that
width) and ``sample``'s ``uniforms`` (the most tokens one call samples). Models exported before
those widths were fixed declare them as -1 and are driven the old way: one ``prefill`` call per
prompt batch, and ``sample`` calls whose ``uniforms`` have one column per token (no ``steps``).
``sample`` is optional; a model without it is driven one step per call. ``score`` is optional
too (exports from before it cannot score text).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
from tensorflow_serving.apis import get_model_metadata_pb2

from serving.client.errors import IncompatibleModelError
from serving.contract import (
    DETOKENIZE,
    FREQUENCY_PENALTY,
    INPUT_IDS,
    LENGTHS,
    LOGIT_BIAS,
    LOGITS,
    LOGPROBS,
    MAX_STATE_UNITS,
    MAX_VOCAB_SIZE,
    MIN_P,
    OUTPUT_COUNTS,
    PREFILL,
    PRESENCE_PENALTY,
    PROMPT_MASK,
    REPETITION_PENALTY,
    SAMPLE,
    SAMPLED_IDS,
    SAMPLED_LOGPROBS,
    SCORE,
    STEP,
    STEPS,
    TEMPERATURE,
    TOKEN_LOGPROBS,
    TOP_K,
    TOP_LOGPROB_IDS,
    TOP_LOGPROBS,
    TOP_P,
    UNIFORMS,
)
from serving.signature_inputs import extra_sample_inputs, sample_inputs
from serving.tensors import dtype_name

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
    prefill_width: int | None = None  # tokens per prefill call; None: any (one call per batch)
    sample_width: int | None = (
        None  # uniforms columns of a sample call; None: one per sampled token
    )
    sample_steps: bool = False  # sample takes per-row `steps` (fixed-width uniforms)
    sample_extras: bool = False  # sample takes min-p, penalties, logprobs (and returns them)
    detokenize_width: int | None = None  # ids per detokenize row (NO_ID-padded); None: any

    @property
    def can_sample(self) -> bool:
        """Whether the model samples several characters per call (its ``sample`` signature)."""
        return SAMPLE in self.signature_names

    @property
    def can_score(self) -> bool:
        """Whether the model scores text (its ``score`` signature)."""
        return SCORE in self.signature_names

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)

    def zero_states(self, batch: int) -> dict[str, np.ndarray]:
        return {s.name: np.zeros((batch, s.units), dtype=np.float32) for s in self.states}

    @classmethod
    def from_layouts(
        cls, inputs: Mapping[str, TensorLayout], outputs: Mapping[str, TensorLayout]
    ) -> StepSignature:
        """Validate the contract; ``inputs``/``outputs`` map signature name -> tensor layouts."""
        for name in (STEP, PREFILL, DETOKENIZE):
            if name not in inputs:
                raise IncompatibleModelError(
                    f"the model has no {name!r} signature (it has: {', '.join(sorted(inputs)) or 'none'}); "
                    "was it exported by `charloom export`?"
                )
        step_in, step_out = inputs[STEP], outputs[STEP]
        _expect(STEP, step_in, INPUT_IDS, "int32", 2)
        _expect(STEP, step_out, LOGITS, "float", 2)
        vocab_size = step_out[LOGITS][0][1]
        if vocab_size <= 0:
            raise IncompatibleModelError(
                f"{STEP} output {LOGITS!r} needs a static vocabulary dimension, "
                f"got shape {list(step_out[LOGITS][0])}"
            )
        if vocab_size > MAX_VOCAB_SIZE:
            raise IncompatibleModelError(
                f"{STEP} output {LOGITS!r} claims a vocabulary of {vocab_size} tokens, more than "
                f"the contract's {MAX_VOCAB_SIZE}"
            )
        states = []
        for name in sorted(n for n in step_in if n != INPUT_IDS):
            _expect(STEP, step_in, name, "float", 2)
            units = step_in[name][0][1]
            if not 0 < units <= MAX_STATE_UNITS:
                raise IncompatibleModelError(
                    f"state input {name!r} needs a static size of at most {MAX_STATE_UNITS}, "
                    f"got shape {list(step_in[name][0])}"
                )
            for sig, layout in (
                (STEP, step_out),
                (PREFILL, inputs[PREFILL]),
                (PREFILL, outputs[PREFILL]),
            ):
                if name not in layout:
                    raise IncompatibleModelError(f"state {name!r} is missing from {sig!r}")
            states.append(StateSpec(name, units))
        _expect(PREFILL, inputs[PREFILL], INPUT_IDS, "int32", 2)
        _expect(PREFILL, inputs[PREFILL], LENGTHS, "int32", 1)
        _expect(PREFILL, outputs[PREFILL], LOGITS, "float", 2)
        if SCORE in inputs:
            _check_score(inputs[SCORE], outputs[SCORE], [s.name for s in states])
        sample_width, sample_steps, sample_extras = None, False, False
        if SAMPLE in inputs:
            _check_sample(inputs[SAMPLE], outputs[SAMPLE], [s.name for s in states])
            sample_steps = STEPS in inputs[SAMPLE]
            sample_extras = _check_sample_extras(inputs[SAMPLE], outputs[SAMPLE], vocab_size)
            sample_width = _width(inputs[SAMPLE][UNIFORMS]) if sample_steps else None
            if sample_steps and sample_width is None:
                raise IncompatibleModelError(
                    f"{SAMPLE!r} takes {STEPS!r} but its {UNIFORMS!r} has no fixed width"
                )
        return cls(
            vocab_size=vocab_size,
            states=tuple(states),
            signature_names=frozenset(inputs),
            prefill_width=_width(inputs[PREFILL][INPUT_IDS]),
            sample_width=sample_width,
            sample_steps=sample_steps,
            sample_extras=sample_extras,
            detokenize_width=_width(inputs[DETOKENIZE][INPUT_IDS])
            if INPUT_IDS in inputs[DETOKENIZE]
            else None,
        )

    @classmethod
    def from_signature_def_map(
        cls, signature_defs: get_model_metadata_pb2.SignatureDefMap
    ) -> StepSignature:
        """From GetModelMetadata's ``signature_def`` field (TF Serving or the local server)."""
        inputs, outputs = {}, {}
        for name, sig in signature_defs.signature_def.items():
            inputs[name] = {k: _layout(v) for k, v in sig.inputs.items()}
            outputs[name] = {k: _layout(v) for k, v in sig.outputs.items()}
        return cls.from_layouts(inputs, outputs)

    def sample_inputs(
        self,
        params,
        uniforms: np.ndarray,
        extras: dict | None = None,
        steps: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """The ``sample`` inputs besides ids and states, for ``uniforms`` [rows, steps]: padded to
        the signature's width with the steps per row (``steps``: each row's own), or as they are
        for a model without ``steps``. ``params``' fields may be scalars (every row) or one value
        per row; ``extras`` (`extra_sample_inputs`) go to an export that takes them (neutral if
        None)."""
        width = self.sample_width if self.sample_steps else None
        if self.sample_extras and extras is None:
            extras = extra_sample_inputs(len(uniforms), self.vocab_size)
        return sample_inputs(
            uniforms,
            params.temperature,
            params.top_k,
            params.top_p,
            width,
            steps,
            extras=extras if self.sample_extras else None,
        )


def _width(layout: tuple[tuple[int, ...], str]) -> int | None:
    """Dimension 1 of a [batch, width] tensor, None when it is not fixed."""
    shape = layout[0]
    return shape[1] if len(shape) == 2 and shape[1] > 0 else None


def _layout(info) -> tuple[tuple[int, ...], str]:
    if info.tensor_shape.unknown_rank:
        return (), dtype_name(info.dtype)
    return tuple(int(d.size) for d in info.tensor_shape.dim), dtype_name(info.dtype)


def _expect(signature: str, layout: TensorLayout, name: str, dtype: str, rank: int) -> None:
    if name not in layout:
        raise IncompatibleModelError(
            f"signature {signature!r} has no tensor {name!r} (it has: {', '.join(sorted(layout))})"
        )
    shape, actual = layout[name]
    if actual != dtype or len(shape) != rank:
        raise IncompatibleModelError(
            f"{signature!r} tensor {name!r} is {actual} {list(shape)}, "
            f"expected {dtype} of rank {rank}"
        )


def _check_sample(inputs: TensorLayout, outputs: TensorLayout, state_names: list[str]) -> None:
    for name, dtype, rank in (
        (INPUT_IDS, "int32", 2),
        (UNIFORMS, "double", 2),
        (TEMPERATURE, "double", 1),
        (TOP_K, "int32", 1),
        (TOP_P, "double", 1),
    ):
        _expect(SAMPLE, inputs, name, dtype, rank)
    if STEPS in inputs:
        _expect(SAMPLE, inputs, STEPS, "int32", 1)
    _expect(SAMPLE, outputs, SAMPLED_IDS, "int32", 2)
    for name in state_names:
        if name not in inputs or name not in outputs:
            raise IncompatibleModelError(f"state {name!r} is missing from {SAMPLE!r}")


def _check_score(inputs: TensorLayout, outputs: TensorLayout, state_names: list[str]) -> None:
    _expect(SCORE, inputs, INPUT_IDS, "int32", 2)
    _expect(SCORE, inputs, LENGTHS, "int32", 1)
    _expect(SCORE, outputs, TOKEN_LOGPROBS, "float", 2)
    _expect(SCORE, outputs, LOGITS, "float", 2)
    if _width(inputs[INPUT_IDS]) is None:
        raise IncompatibleModelError(f"{SCORE!r} input {INPUT_IDS!r} has no fixed width")
    for name in state_names:
        if name not in inputs or name not in outputs:
            raise IncompatibleModelError(f"state {name!r} is missing from {SCORE!r}")


def _check_sample_extras(inputs: TensorLayout, outputs: TensorLayout, vocab_size: int) -> bool:
    """Whether ``sample`` takes the inputs of exports since the log-probabilities (all or none)."""
    present = [name for name in EXTRA_INPUTS if name in inputs]
    if not present:
        return False
    if len(present) != len(EXTRA_INPUTS):
        missing = sorted(set(EXTRA_INPUTS) - set(present))
        raise IncompatibleModelError(f"{SAMPLE!r} lacks {', '.join(missing)} of its new inputs")
    for name, (dtype, rank) in EXTRA_INPUTS.items():
        _expect(SAMPLE, inputs, name, dtype, rank)
        if rank == 2 and inputs[name][0][1] != vocab_size:
            raise IncompatibleModelError(
                f"{SAMPLE!r} input {name!r} is {list(inputs[name][0])}, expected [-1, {vocab_size}]"
            )
    for name, dtype, rank in (
        (SAMPLED_LOGPROBS, "float", 2),
        (TOP_LOGPROB_IDS, "int32", 3),
        (TOP_LOGPROBS, "float", 3),
    ):
        _expect(SAMPLE, outputs, name, dtype, rank)
    return True


EXTRA_INPUTS = {
    MIN_P: ("double", 1),
    REPETITION_PENALTY: ("double", 1),
    FREQUENCY_PENALTY: ("double", 1),
    PRESENCE_PENALTY: ("double", 1),
    LOGPROBS: ("int32", 1),
    LOGIT_BIAS: ("float", 2),
    OUTPUT_COUNTS: ("int32", 2),
    PROMPT_MASK: ("int32", 2),
}
