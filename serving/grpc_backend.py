"""gRPC backend: TF Serving's PredictionService (the real TF Serving or `charloom serve`).

Learns everything from the server: GetModelMetadata gives the signatures (state names, shapes,
vocabulary size, fixed widths) and pins the model version, so a reload mid-generation cannot mix
models. Safe to share between threads: every call builds its own request message.

Rows per Predict call are bounded by ``max_rows`` (default: the batch size the Kubernetes
deployment configures): a call with more rows is sent as several Predict calls at once, each
within TF Serving's ``max_batch_size``, and their outputs joined. A server that refuses a call
for its size (TF Serving's ``Task size N is larger than maximum input batch size M``, or this
project's server's own limit) teaches the backend its limit, and the call is split again.
"""

from __future__ import annotations

import logging
import re

import grpc
import numpy as np
from tensorflow_serving.apis import (get_model_metadata_pb2, model_pb2, predict_pb2,
                                     prediction_service_pb2_grpc)

from serving import defaults
from serving.backends import SignatureBackend
from serving.channel import RetryPolicy, TlsOptions, open_channel, rpc_failure
from serving.client_errors import GenerationError, IncompatibleModelError
from serving.contract import SIGNATURES
from serving.model_signature import StepSignature
from serving.tensors import from_tensor_proto, to_tensor_proto

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 10.0
# How servers name their row limit when they refuse a call for its size.
_ROW_LIMIT = (re.compile(r"larger than maximum input batch size (\d+)"),
              re.compile(r"above the server's limit of (\d+) \(--max-request-batch\)"))


def row_limit_of(exc: grpc.RpcError) -> int | None:
    """The server's row limit, when ``exc`` refuses a call for having more rows than that."""
    if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
        return None
    for pattern in _ROW_LIMIT:
        found = pattern.search(exc.details() or "")
        if found and int(found.group(1)) > 0:
            return int(found.group(1))
    return None


class GrpcBackend(SignatureBackend):
    """One model on one server, over one channel and stub reused for every call."""

    def __init__(self, target: str, model_name: str, version: int | None = None, *,
                 timeout: float = DEFAULT_TIMEOUT_SECONDS, retry: RetryPolicy = RetryPolicy(),
                 tls: TlsOptions | None = None, wait_for_ready: bool = False,
                 channel: grpc.Channel | None = None, max_rows: int = defaults.MAX_ROWS_PER_CALL) -> None:
        if max_rows < 1:
            raise GenerationError(f"max_rows must be >= 1, got {max_rows}")
        self.target = target
        self.model_name = model_name
        self.timeout = timeout
        self.wait_for_ready = wait_for_ready
        self.max_rows = max_rows
        self._owns_channel = channel is None
        self._channel = channel if channel is not None else open_channel(target, retry, tls)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._predict = stub.Predict
        self._spec = model_pb2.ModelSpec(name=model_name)
        if version is not None:
            self._spec.version.value = version
        self.signature = self._learn_signature(stub)
        self._model_specs = {name: self._model_spec_for(name) for name in SIGNATURES}

    @property
    def version(self) -> int | None:
        return self._spec.version.value if self._spec.HasField("version") else None

    @property
    def description(self) -> str:
        version = f" version {self.version}" if self.version is not None else ""
        return f"{self.target} (model {self.model_name!r}{version})"

    def close(self) -> None:
        if self._owns_channel:
            self._channel.close()

    def _run(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = len(next(iter(inputs.values())))
        while True:
            limit = self.max_rows
            bounds = [(start, min(start + limit, rows)) for start in range(0, rows, limit)] or [(0, 0)]
            try:
                responses = self._predict_all([self._request(signature_name, inputs, start, stop)
                                               for start, stop in bounds])
            except grpc.RpcError as exc:
                learned = row_limit_of(exc)
                if learned is not None and learned < limit:
                    log.info("%s takes at most %d rows per call; splitting calls accordingly",
                             self.description, learned)
                    self.max_rows = learned
                    continue
                raise rpc_failure(exc, f"Predict ({signature_name})", self.description, self.timeout) from None
            return _join([{name: from_tensor_proto(proto) for name, proto in r.outputs.items()}
                          for r in responses])

    def _predict_all(self, requests: list[predict_pb2.PredictRequest]) -> list[predict_pb2.PredictResponse]:
        """One blocking call, or all of them in flight at once; the first failure is raised."""
        if len(requests) == 1:
            return [self._predict(requests[0], timeout=self.timeout, wait_for_ready=self.wait_for_ready)]
        futures = [self._predict.future(r, timeout=self.timeout, wait_for_ready=self.wait_for_ready)
                   for r in requests]
        try:
            return [future.result() for future in futures]
        finally:
            for future in futures:
                future.cancel()

    def _request(self, signature_name: str, inputs: dict[str, np.ndarray], start: int,
                 stop: int) -> predict_pb2.PredictRequest:
        request = predict_pb2.PredictRequest()
        request.model_spec.CopyFrom(self._model_specs[signature_name])
        whole = start == 0 and stop == len(next(iter(inputs.values())))
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(to_tensor_proto(value if whole else value[start:stop]))
        return request

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


def _join(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([p[name] for p in parts], axis=0) for name in parts[0]}
