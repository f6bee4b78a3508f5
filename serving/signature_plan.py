"""What a Predict call needs from one signature, computed once per loaded version.

Checking a request against a SignatureDef walks protobuf fields, which is slow in Python on every
call; a plan holds the same facts as plain tuples. It also calls the concrete function with its
inputs already in flat argument order, skipping TensorFlow's per-call argument binding: the
request was checked against the very signature the function was saved with.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any, Mapping

import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2


@dataclass(frozen=True)
class InputSpec:
    """One signature input: its position among the sorted names, dtype enum and dims (None: any)."""

    name: str
    index: int
    dtype: int
    dims: tuple[int, ...] | None


@dataclass(frozen=True)
class SignaturePlan:
    signature_name: str
    signature_def: meta_graph_pb2.SignatureDef
    function: Any  # the loaded ConcreteFunction
    inputs: tuple[InputSpec, ...]  # sorted by name, as TF Serving numbers them in messages
    input_names: frozenset[str]
    output_names: tuple[str, ...]  # sorted: the outputs returned when no output_filter is given
    output_set: frozenset[str]
    flat_order: tuple[str, ...] | None  # input names in the function's argument order; None: call by keyword
    captured: tuple[Any, ...]  # the function's captured inputs (variable handles), stable per version

    def call(self, tensors: Mapping[str, tf.Tensor]) -> Mapping[str, tf.Tensor]:
        """Run the function on checked inputs; raises what the function raises."""
        if self.flat_order is None:
            return self.function(**tensors)
        return self.function._call_flat([tensors[name] for name in self.flat_order], list(self.captured))


def _flat_order(function: Any) -> tuple[str, ...] | None:
    """The keyword inputs in the order the function takes them flat, if that order is certain."""
    try:
        args, kwargs = function.structured_input_signature
        inputs = function.inputs
        captured = function.captured_inputs
    except (AttributeError, TypeError, ValueError):
        return None
    if args or not isinstance(kwargs, dict) or not hasattr(function, "_call_flat"):
        return None
    specs = tf.nest.flatten(kwargs)
    if len(specs) + len(captured) != len(inputs) or not all(isinstance(s, tf.TensorSpec) for s in specs):
        return None
    order = tuple(sorted(kwargs))  # nest flattens a dict in sorted key order
    # The graph's placeholders are named after the arguments: confirm the order, else call by keyword.
    if [t.name.split(":")[0] for t in inputs[:len(specs)]] != list(order):
        return None
    return order


def build_plan(signature_name: str, signature_def: meta_graph_pb2.SignatureDef, function: Any) -> SignaturePlan:
    inputs = []
    for index, name in enumerate(sorted(signature_def.inputs)):
        info = signature_def.inputs[name]
        dims = None if info.tensor_shape.unknown_rank else tuple(d.size for d in info.tensor_shape.dim)
        inputs.append(InputSpec(name, index, info.dtype, dims))
    flat_order = _flat_order(function)
    return SignaturePlan(
        signature_name=signature_name, signature_def=signature_def, function=function, inputs=tuple(inputs),
        input_names=frozenset(signature_def.inputs), output_names=tuple(sorted(signature_def.outputs)),
        output_set=frozenset(signature_def.outputs), flat_order=flat_order,
        captured=tuple(function.captured_inputs) if flat_order is not None else ())


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
        function = servable.signatures.get(signature_name)
        plan = None if signature is None or function is None else build_plan(signature_name, signature, function)
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
