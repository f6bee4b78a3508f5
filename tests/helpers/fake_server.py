"""A fake TF Serving PredictionService for client tests: serves a SavedModel's signatures (in a
Session, as TF Serving runs them) over real gRPC, and can sleep or answer UNAVAILABLE on demand."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

from serving.tensors import from_tensor_proto, to_tensor_proto
from tests.helpers.session_model import SessionSignatures


class FakePredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Serves a SavedModel's signatures; can sleep or fail with UNAVAILABLE on demand."""

    def __init__(self, saved_model_dir: Path, version: int = 1) -> None:
        self.model = SessionSignatures(saved_model_dir)
        self.version = version
        self.lock = threading.Lock()
        self.predict_calls: list[str] = []  # signature names, in order
        self.metadata_calls = 0
        self.unavailable_remaining = 0  # answer this many next Predict calls with UNAVAILABLE
        self.delay_seconds = 0.0  # sleep before answering Predict
        self.model_name = "toy"  # other names get NOT_FOUND, as from TF Serving
        # A server that breaks the contract: rewrites each Predict answer's outputs (by
        # signature name), or the metadata's signatures, before they are sent.
        self.corrupt_outputs: Callable[[str, dict[str, np.ndarray]], dict] | None = None
        self.corrupt_signatures: Callable[[get_model_metadata_pb2.SignatureDefMap], None] | None = (
            None
        )

    def _check_name(self, request, context) -> None:
        if request.model_spec.name != self.model_name:
            context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"Servable not found for request: Latest({request.model_spec.name})",
            )

    def GetModelMetadata(self, request, context):
        with self.lock:
            self.metadata_calls += 1
        self._check_name(request, context)
        defs = get_model_metadata_pb2.SignatureDefMap()
        for name, signature in self.model.bundle.signature_defs.items():
            defs.signature_def[name].CopyFrom(signature)
        if self.corrupt_signatures is not None:
            self.corrupt_signatures(defs)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = self.version
        response.metadata["signature_def"].Pack(defs)
        return response

    def Predict(self, request, context):
        name = request.model_spec.signature_name or "serving_default"
        with self.lock:
            self.predict_calls.append(name)
            fail = self.unavailable_remaining > 0
            self.unavailable_remaining -= fail
        if fail:
            context.abort(grpc.StatusCode.UNAVAILABLE, "shedding load (test)")
        self._check_name(request, context)
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        inputs = {k: from_tensor_proto(v) for k, v in request.inputs.items()}
        outputs = self.model[name](**inputs)
        if self.corrupt_outputs is not None:
            outputs = self.corrupt_outputs(name, outputs)
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(request.model_spec)
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(to_tensor_proto(value))
        return response
