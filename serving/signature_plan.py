"""What a Predict call needs from one signature, computed once per loaded version.

Checking a request against a SignatureDef walks protobuf fields, which is slow in Python on every
call; a plan holds the same facts (aliases, tensor names) as plain tuples and dicts.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

from tensorflow.core.protobuf import meta_graph_pb2


@dataclass(frozen=True)
class SignaturePlan:
    signature_name: str
    signature_def: meta_graph_pb2.SignatureDef
    input_names: frozenset[str]  # aliases
    input_aliases: tuple[str, ...]  # sorted
    input_tensors: dict[str, str]  # alias -> graph tensor name
    output_names: tuple[str, ...]  # sorted aliases: the outputs returned when no output_filter is given
    output_set: frozenset[str]
    output_tensors: dict[str, str]  # alias -> graph tensor name


def build_plan(signature_name: str, signature_def: meta_graph_pb2.SignatureDef) -> SignaturePlan:
    inputs = {alias: info.name for alias, info in signature_def.inputs.items()}
    outputs = {alias: info.name for alias, info in signature_def.outputs.items()}
    return SignaturePlan(
        signature_name=signature_name, signature_def=signature_def, input_names=frozenset(inputs),
        input_aliases=tuple(sorted(inputs)), input_tensors=inputs, output_names=tuple(sorted(outputs)),
        output_set=frozenset(outputs), output_tensors=outputs)


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
