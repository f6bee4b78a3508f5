"""What a Predict request must satisfy: its signature's plan, then TF Serving's checks, and limits.

A plan holds what a Predict call needs from one signature (aliases, tensor names) as plain tuples
and dicts, computed once per loaded version: walking protobuf fields on every call is slow in
Python. Checks and messages are TF Serving's (`input size does not match signature: ...`, `Signature
input alias: ... not found in request ...`, `tensor parsing error: ...`, `output tensor alias not
found in signature: ...`), in its order, so clients and operators see the same text from either
server. The size limits are this server's own (TF Serving has none). Every failure here is
INVALID_ARGUMENT.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from serving.contract import INPUT_IDS
from serving.server.config import ServerLimits
from serving.server.status import invalid_argument
from serving.tensors import TensorCodecError, from_tensor_proto

PROMPT_INPUT_NAME = INPUT_IDS  # the input whose dimension 1 --max-prompt-length bounds


@dataclass(frozen=True)
class SignaturePlan:
    signature_name: str
    signature_def: meta_graph_pb2.SignatureDef
    input_names: frozenset[str]  # aliases
    input_aliases: tuple[str, ...]  # sorted
    input_tensors: dict[str, str]  # alias -> graph tensor name
    output_names: tuple[
        str, ...
    ]  # sorted aliases: the outputs returned when no output_filter is given
    output_set: frozenset[str]
    output_tensors: dict[str, str]  # alias -> graph tensor name


def build_plan(signature_name: str, signature_def: meta_graph_pb2.SignatureDef) -> SignaturePlan:
    inputs = {alias: info.name for alias, info in signature_def.inputs.items()}
    outputs = {alias: info.name for alias, info in signature_def.outputs.items()}
    return SignaturePlan(
        signature_name=signature_name,
        signature_def=signature_def,
        input_names=frozenset(inputs),
        input_aliases=tuple(sorted(inputs)),
        input_tensors=inputs,
        output_names=tuple(sorted(outputs)),
        output_set=frozenset(outputs),
        output_tensors=outputs,
    )


class PlanCache:
    """Plans per (loaded version, signature name); a version's plans are dropped when it is freed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: dict[int, tuple[weakref.ref, dict[str, SignaturePlan | None]]] = {}

    def get(self, servable: Any, signature_name: str) -> SignaturePlan | None:
        """The plan, or None when the version has no such signature."""
        entry = self._plans.get(id(servable))
        if entry is not None and entry[0]() is servable:
            plans = entry[1]
            if signature_name in plans:
                return plans[signature_name]
        else:
            plans = self._register(servable)
        signature = servable.signature_defs.get(signature_name)
        plan = None if signature is None else build_plan(signature_name, signature)
        with self._lock:
            plans[signature_name] = plan
        return plan

    def _register(self, servable: Any) -> dict[str, SignaturePlan | None]:
        key = id(servable)

        def forget(_: weakref.ref) -> None:
            with self._lock:
                current = self._plans.get(key)
                if current is not None and current[0]() is None:
                    del self._plans[key]

        plans: dict[str, SignaturePlan | None] = {}
        with self._lock:
            self._plans[key] = (weakref.ref(servable, forget), plans)
        return plans


def _set(names: object) -> str:
    return "{" + ",".join(sorted(names)) + "}"  # type: ignore[arg-type]


def check_input_keys(plan: SignaturePlan, sent: Mapping[str, object]) -> None:
    """TF Serving's checks of the request's input aliases against the signature, in its order."""
    expected = plan.input_names
    given = set(sent)
    if len(given) != len(expected):  # PreProcessPrediction: VerifyRequestInputsSize
        raise invalid_argument(
            f"input size does not match signature: {len(given)}!={len(expected)} len({_set(given)}) != "
            f"len({_set(expected)}). Sent extra: {_set(given - expected)}. "
            f"Missing but required: {_set(expected - given)}."
        )
    for alias in plan.input_aliases:  # saved_model::GetInputValues (no signature has defaults)
        if alias not in given:
            raise invalid_argument(
                f"Signature input alias: {alias}(feed name: {plan.input_tensors[alias]}) not found in "
                f"request and no default value provided. Inputs expected to be in the request "
                f"{_set(given)}, or default input alias set: "
            )


def check_output_filter(plan: SignaturePlan, output_filter: Sequence[str]) -> tuple[str, ...]:
    """The output aliases to return: the filter in order, or every output when it is empty."""
    if not output_filter:
        return plan.output_names
    seen: set[str] = set()
    for alias in output_filter:
        if alias not in plan.output_set:
            raise invalid_argument(
                f"output tensor alias not found in signature: {alias} Outputs "
                f"expected to be in the set {_set(plan.output_set)}."
            )
        if alias in seen:
            raise invalid_argument(f"duplicate output tensor alias: {alias}")
        seen.add(alias)
    return tuple(output_filter)


def _shape_text(dims: list[int] | tuple[int, ...]) -> str:
    return "[" + ",".join(str(d) for d in dims) + "]"


def decode_inputs(
    plan: SignaturePlan, sent: Mapping[str, tensor_pb2.TensorProto]
) -> dict[str, np.ndarray]:
    """Decode each input as TF Serving does (``Tensor::FromProto``), keyed by graph tensor name.

    Like TF Serving, nothing is checked against the signature's dtypes or shapes here: the
    session's runtime refuses a wrong dtype, and the model's own checks a wrong shape.
    """
    arrays: dict[str, np.ndarray] = {}
    for alias in plan.input_aliases:
        try:
            arrays[plan.input_tensors[alias]] = from_tensor_proto(sent[alias])
        except TensorCodecError:
            raise invalid_argument(f"tensor parsing error: {alias}") from None
    return arrays


_INTEGER_DTYPES = frozenset(
    {
        types_pb2.DT_INT8,
        types_pb2.DT_UINT8,
        types_pb2.DT_INT16,
        types_pb2.DT_UINT16,
        types_pb2.DT_INT32,
        types_pb2.DT_UINT32,
        types_pb2.DT_INT64,
        types_pb2.DT_UINT64,
    }
)
# What one string element costs once decoded and fed, besides its bytes: numpy's reference (8)
# and TensorFlow's tstring (24). A value broadcast to many elements is copied into each.
STRING_ELEMENT_BYTES = 32


@functools.cache
def _item_bytes(dtype_enum: int) -> int:
    """Bytes per numeric element once decoded (1 for a dtype TensorFlow does not know: the decoder
    refuses it right after, and the count still bounds the work)."""
    try:
        return max(tf.dtypes.as_dtype(dtype_enum).size, 1)
    except TypeError:
        return 1


def decoded_bytes(proto: tensor_pb2.TensorProto) -> int:
    """The memory `proto` takes once decoded, from its declared shape and values alone.

    Values are broadcast to the declared shape as ``Tensor::FromProto`` does (the last one
    repeated), so a message of a few bytes can declare gigabytes: this is what must be bounded.
    """
    count = 1
    for dim in proto.tensor_shape.dim:
        count *= max(dim.size, 0)
    if proto.dtype != types_pb2.DT_STRING:
        return count * _item_bytes(proto.dtype)
    values = proto.string_val
    given = min(len(values), count)
    payload = sum(len(values[i]) for i in range(given))
    if count > given and len(values):
        payload += (count - given) * len(values[-1])
    return count * STRING_ELEMENT_BYTES + payload


def check_limits(sent: Mapping[str, tensor_pb2.TensorProto], limits: ServerLimits) -> None:
    """Bound the batch (dim 0 of every input), the prompt (dim 1 of integer `input_ids`) and the
    decoded size of all inputs together (strings included), from the declared shapes, before
    anything is decoded: a tiny message declaring a huge shape must not allocate it.
    """
    total = 0
    for name, proto in sent.items():
        shape = [d.size for d in proto.tensor_shape.dim]
        if shape and shape[0] > limits.max_request_batch:
            raise invalid_argument(
                f"input '{name}' has batch size {shape[0]}, above the server's limit of "
                f"{limits.max_request_batch} (--max-request-batch)"
            )
        if (
            name == PROMPT_INPUT_NAME
            and len(shape) >= 2
            and proto.dtype in _INTEGER_DTYPES
            and shape[1] > limits.max_prompt_length
        ):
            raise invalid_argument(
                f"input '{name}' has length {shape[1]}, above the server's limit of "
                f"{limits.max_prompt_length} (--max-prompt-length)"
            )
        size = decoded_bytes(proto)
        total += size
        if size > limits.max_message_bytes:
            raise invalid_argument(
                f"input '{name}' of shape {_shape_text(shape)} is larger than the server's limit of "
                f"{limits.max_message_bytes} bytes (--max-message-bytes)"
            )
        if total > limits.max_message_bytes:
            raise invalid_argument(
                f"the request's inputs decode to more than the server's limit of "
                f"{limits.max_message_bytes} bytes together (--max-message-bytes)"
            )
