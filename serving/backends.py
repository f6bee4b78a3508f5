"""The transport-independent interface the generation loop drives.

Two implementations: `serving.grpc_backend.GrpcBackend` (TF Serving's PredictionService over
gRPC) and `serving.local_backend.LocalBackend` (the SavedModel's signatures called in process).
Recurrent states are opaque to the loop (TensorProtos for gRPC, tf.Tensors in process) so each
backend passes them back to the model without converting them on every step.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from serving.char_vocabulary import CharVocabulary
from serving.model_signature import StepSignature
from serving.sampling import SamplingParams

States = Any  # backend-specific: name -> state tensor in the backend's own representation


class InferenceBackend(Protocol):
    """One served model: its signature, and the three calls the generation loop needs."""

    @property
    def signature(self) -> StepSignature: ...

    @property
    def description(self) -> str:
        """Where the model is, for error messages ("grpc localhost:8500 model charloom v3")."""

    def detokenize(self, ids: np.ndarray) -> list[str]:
        """Strings of int32 ids [rows, length] (the model's ``detokenize`` signature)."""

    def prefill(self, ids: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, States]:
        """Run right-padded prompts [rows, length] from zero states: logits [rows, V], states."""

    def step(self, ids: np.ndarray, states: States) -> tuple[np.ndarray, States]:
        """Feed one id per row ([rows, 1]): logits [rows, V] and the new states."""

    def sample(self, ids: np.ndarray, states: States, uniforms: np.ndarray,
               params: SamplingParams) -> tuple[np.ndarray, States]:
        """Feed ids [rows, 1] and sample ``uniforms.shape[1]`` characters in the model (its ``sample``
        signature): the sampled ids [rows, steps] and the states before the last one is fed."""

    def select_rows(self, states: States, rows: np.ndarray) -> States:
        """States of the given rows, in that order (rows may repeat: one prompt, many samples)."""

    def close(self) -> None: ...


def learn_vocabulary(backend: InferenceBackend) -> CharVocabulary:
    """Ids 0..V-1 through ``detokenize`` in one call: id i -> the i-th string."""
    size = backend.signature.vocab_size
    ids = np.arange(size, dtype=np.int32).reshape(size, 1)
    return CharVocabulary(backend.detokenize(ids))
