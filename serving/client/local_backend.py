"""In-process backend: the exported SavedModel loaded and run the way TF Serving runs it.

Drives the same generation loop as the gRPC client, so with the same seed both produce the same
text; the end-to-end tests and the benchmarks use it as the reference. The SavedModel is loaded
into a Session (restore op, init op) and its signatures are called by tensor name, as in
`charloom serve` and TF Serving: an export that only works through TensorFlow's object loader
fails here too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import get_model_metadata_pb2

from serving.client.backends import SignatureBackend
from serving.client.errors import IncompatibleModelError
from serving.client.model_signature import StepSignature
from serving.saved_model import SessionBundle, is_saved_model_dir

log = logging.getLogger(__name__)


class LocalBackend(SignatureBackend):
    """A SavedModel directory in a Session of this process."""

    def __init__(self, saved_model_dir: str | os.PathLike) -> None:
        self.path = Path(saved_model_dir)
        if not is_saved_model_dir(self.path):
            raise IncompatibleModelError(
                f"{self.path} is not a SavedModel directory (no saved_model.pb)"
            )
        self._bundle = SessionBundle(self.path)
        signature_defs = get_model_metadata_pb2.SignatureDefMap()
        for name, signature in self._bundle.signature_defs.items():
            signature_defs.signature_def[name].CopyFrom(signature)
        self.signature = StepSignature.from_signature_def_map(signature_defs)
        log.info(
            "loaded %s: vocabulary %d, states %s",
            self.path,
            self.signature.vocab_size,
            self.signature.state_names,
        )

    @property
    def description(self) -> str:
        return f"SavedModel {self.path}"

    def _run(
        self,
        signature_name: str,
        inputs: dict[str, np.ndarray],
        outputs: Sequence[str] | None = None,
    ) -> dict[str, np.ndarray]:
        signature = self._bundle.signature_defs[signature_name]
        aliases = list(outputs) if outputs else sorted(signature.outputs)
        feeds = {signature.inputs[name].name: value for name, value in inputs.items()}
        try:
            values = self._bundle.run(feeds, [signature.outputs[a].name for a in aliases])
        except tf.errors.OpError as exc:
            raise IncompatibleModelError(
                f"{self.description}: {signature_name} failed: {exc.message.splitlines()[0]}"
            ) from exc
        return dict(zip(aliases, values))

    def close(self) -> None:
        self._bundle.close()
