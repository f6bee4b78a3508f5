"""gRPC backend: TF Serving's PredictionService (the real TF Serving or `charloom serve`).

Learns everything from the server: GetModelMetadata gives the signatures (state names, shapes,
vocabulary size) and pins the model version, so a reload mid-generation cannot mix models. The
per-step path copies a prebuilt model spec, passes the returned state TensorProtos straight back
without decoding them, and decodes only the logits. Safe to share between threads: every call
builds its own request message.
"""

from __future__ import annotations

import logging

import grpc
import numpy as np
from tensorflow_serving.apis import (get_model_metadata_pb2, model_pb2, predict_pb2,
                                     prediction_service_pb2_grpc)

from serving.backends import States
from serving.channel import RetryPolicy, TlsOptions, open_channel, rpc_failure
from serving.client_errors import IncompatibleModelError
from serving.model_signature import (DETOKENIZE, INPUT_IDS, LENGTHS, LOGITS, PREFILL, SAMPLE,
                                     SAMPLED_IDS, STEP, TEXT, StepSignature, sample_options)
from serving.sampling import SamplingParams
from serving.tensors import from_tensor_proto, to_tensor_proto

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 10.0


class GrpcBackend:
    """One model on one server, over one channel and stub reused for every call."""

    def __init__(self, target: str, model_name: str, version: int | None = None, *,
                 timeout: float = DEFAULT_TIMEOUT_SECONDS, retry: RetryPolicy = RetryPolicy(),
                 tls: TlsOptions | None = None, wait_for_ready: bool = False,
                 channel: grpc.Channel | None = None) -> None:
        self.target = target
        self.model_name = model_name
        self.timeout = timeout
        self.wait_for_ready = wait_for_ready
        self._owns_channel = channel is None
        self._channel = channel if channel is not None else open_channel(target, retry, tls)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._predict = stub.Predict
        self._spec = model_pb2.ModelSpec(name=model_name)
        if version is not None:
            self._spec.version.value = version
        self._signature = self._learn_signature(stub)
        self._model_specs = {name: self._model_spec_for(name) for name in (STEP, PREFILL, SAMPLE, DETOKENIZE)}

    @property
    def signature(self) -> StepSignature:
        return self._signature

    @property
    def version(self) -> int | None:
        return self._spec.version.value if self._spec.HasField("version") else None

    @property
    def description(self) -> str:
        version = f" version {self.version}" if self.version is not None else ""
        return f"{self.target} (model {self.model_name!r}{version})"

    def detokenize(self, ids: np.ndarray) -> list[str]:
        request = self._new_request(DETOKENIZE)
        request.inputs[INPUT_IDS].CopyFrom(to_tensor_proto(np.asarray(ids, np.int32)))
        response = self._call(request, f"Predict ({DETOKENIZE})")
        if TEXT not in response.outputs:
            raise IncompatibleModelError(f"{DETOKENIZE} returned no {TEXT!r} output")
        return [t.decode("utf-8") for t in from_tensor_proto(response.outputs[TEXT]).reshape(-1).tolist()]

    def prefill(self, ids: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, States]:
        request = self._new_request(PREFILL)
        request.inputs[INPUT_IDS].CopyFrom(to_tensor_proto(np.asarray(ids, np.int32)))
        request.inputs[LENGTHS].CopyFrom(to_tensor_proto(np.asarray(lengths, np.int32)))
        for name, zeros in self._signature.zero_states(len(ids)).items():
            request.inputs[name].CopyFrom(to_tensor_proto(zeros))
        return self._split(self._call(request, f"Predict ({PREFILL})"))

    def step(self, ids: np.ndarray, states: States) -> tuple[np.ndarray, States]:
        request = self._new_request(STEP)
        request.inputs[INPUT_IDS].CopyFrom(to_tensor_proto(np.asarray(ids, np.int32)))
        for name, proto in states.items():
            request.inputs[name].CopyFrom(proto)
        return self._split(self._call(request, f"Predict ({STEP})"))

    def sample(self, ids: np.ndarray, states: States, uniforms: np.ndarray,
               params: SamplingParams) -> tuple[np.ndarray, States]:
        request = self._new_request(SAMPLE)
        request.inputs[INPUT_IDS].CopyFrom(to_tensor_proto(np.asarray(ids, np.int32)))
        for name, value in sample_options(params, uniforms).items():
            request.inputs[name].CopyFrom(to_tensor_proto(value))
        for name, proto in states.items():
            request.inputs[name].CopyFrom(proto)
        return self._split(self._call(request, f"Predict ({SAMPLE})"), SAMPLED_IDS)

    def select_rows(self, states: States, rows: np.ndarray) -> States:
        return {name: to_tensor_proto(from_tensor_proto(proto)[rows]) for name, proto in states.items()}

    def close(self) -> None:
        if self._owns_channel:
            self._channel.close()

    def _learn_signature(self, stub: prediction_service_pb2_grpc.PredictionServiceStub) -> StepSignature:
        request = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=self._spec, metadata_field=["signature_def"])
        try:
            response = stub.GetModelMetadata(request, timeout=self.timeout, wait_for_ready=self.wait_for_ready)
        except grpc.RpcError as exc:
            raise rpc_failure(exc, "GetModelMetadata", self.description, self.timeout) from None
        signature_defs = get_model_metadata_pb2.SignatureDefMap()
        if "signature_def" not in response.metadata or \
                not response.metadata["signature_def"].Unpack(signature_defs):
            raise IncompatibleModelError(f"{self.description} returned no signature_def metadata")
        if response.model_spec.HasField("version"):
            self._spec.version.value = response.model_spec.version.value  # pin: states are per model
        signature = StepSignature.from_signature_def_map(signature_defs)
        log.info("%s: vocabulary %d, states %s", self.description, signature.vocab_size,
                 ", ".join(signature.state_names))
        return signature

    def _model_spec_for(self, signature_name: str) -> model_pb2.ModelSpec:
        spec = model_pb2.ModelSpec()
        spec.CopyFrom(self._spec)
        spec.signature_name = signature_name
        return spec

    def _new_request(self, signature_name: str) -> predict_pb2.PredictRequest:
        request = predict_pb2.PredictRequest()
        request.model_spec.CopyFrom(self._model_specs[signature_name])
        return request

    def _call(self, request: predict_pb2.PredictRequest, rpc: str) -> predict_pb2.PredictResponse:
        try:
            return self._predict(request, timeout=self.timeout, wait_for_ready=self.wait_for_ready)
        except grpc.RpcError as exc:
            raise rpc_failure(exc, rpc, self.description, self.timeout) from None

    def _split(self, response: predict_pb2.PredictResponse, head: str = LOGITS) -> tuple[np.ndarray, States]:
        """The ``head`` output decoded (logits or sampled ids) and the state protos as they are."""
        outputs = response.outputs
        missing = [n for n in (head, *self._signature.state_names) if n not in outputs]
        if missing:
            raise IncompatibleModelError(f"{self.description} response lacks {', '.join(missing)}")
        return from_tensor_proto(outputs[head]), {n: outputs[n] for n in self._signature.state_names}
