"""gRPC backend: TF Serving's PredictionService (the real TF Serving or `charloom serve`), and the
channel it runs on.

Learns everything from the server: GetModelMetadata gives the signatures (state names, shapes,
vocabulary size, fixed widths) and the version, which every Predict call of the backend then
names, so a reload mid-text cannot mix models. `latest()` asks again: a client calls it at the
start of each text, so the next text follows a newly deployed version (unless the user pinned
one). A text whose version is unloaded mid-way gets `ModelVersionUnloadedError`. Safe to share
between threads: every call builds its own request message.

Rows per Predict call are bounded by ``max_rows`` (default: the batch size the Kubernetes
deployment configures): a call with more rows is sent as several Predict calls at once, each
within TF Serving's ``max_batch_size``, and their outputs joined. A server that refuses a call
for its size (TF Serving's ``Task size N is larger than maximum input batch size M``, or this
project's server's own limit) teaches the backend its limit, and the call is split again.

Channels: retries use gRPC's own retry machinery (a ``retryPolicy`` in the channel's service
config): an RPC that fails with UNAVAILABLE (server not up yet, connection reset, a server
shedding load) is re-sent with exponential backoff, without any Python on the per-step path.
gRPC caps attempts at 5. A server that stays away longer (a restarted pod) is waited for up to
``resume_seconds``, and the call is then sent again: every call is a pure function of its inputs
(the client holds the states), so the text continues as if nothing happened. RPC errors become
one-line `GenerationError`s naming the RPC and target.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path

import grpc
import numpy as np
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    model_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving import defaults
from serving.client.backends import SignatureBackend
from serving.client.errors import (
    DeadlineExceededError,
    GenerationError,
    IncompatibleModelError,
    ModelVersionUnloadedError,
    RpcFailedError,
    ServerNotReadyError,
    ServerUnavailableError,
)
from serving.client.model_signature import StepSignature
from serving.client.readiness import is_serving, wait_until_serving
from serving.contract import SIGNATURES
from serving.tensors import from_tensor_proto, to_tensor_proto

log = logging.getLogger(__name__)

RETRIED_SERVICES = ("tensorflow.serving.PredictionService", "tensorflow.serving.ModelService")
MAX_GRPC_ATTEMPTS = defaults.CLIENT_MAX_ATTEMPTS
LOAD_BALANCING = defaults.LOAD_BALANCING_POLICIES
RECONNECT_BACKOFF_MS = (100, 1000)  # first and largest delay between connection attempts


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Retry on UNAVAILABLE: ``max_attempts`` tries in all (1 = no retries), exponential backoff."""

    max_attempts: int = MAX_GRPC_ATTEMPTS
    initial_backoff: float = 0.1
    max_backoff: float = 2.0
    backoff_multiplier: float = 2.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= MAX_GRPC_ATTEMPTS:
            raise GenerationError(
                f"max_attempts must be in [1, {MAX_GRPC_ATTEMPTS}] (gRPC's limit), "
                f"got {self.max_attempts}"
            )
        if not 0 < self.initial_backoff <= self.max_backoff or self.backoff_multiplier < 1:
            raise GenerationError(
                "backoff needs 0 < initial_backoff <= max_backoff and multiplier >= 1"
            )

    def service_config(self, load_balancing: str = LOAD_BALANCING[0]) -> str:
        method_config: dict = {"name": [{"service": s} for s in RETRIED_SERVICES]}
        if self.max_attempts > 1:
            method_config["retryPolicy"] = {
                "maxAttempts": self.max_attempts,
                "initialBackoff": f"{self.initial_backoff:.3f}s",
                "maxBackoff": f"{self.max_backoff:.3f}s",
                "backoffMultiplier": self.backoff_multiplier,
                "retryableStatusCodes": ["UNAVAILABLE"],
            }
        return json.dumps(
            {"methodConfig": [method_config], "loadBalancingConfig": [{load_balancing: {}}]}
        )


@dataclasses.dataclass(frozen=True)
class TlsOptions:
    """Server authentication: the CA that signed the server's certificate; optional name override."""

    ca_file: str | Path
    server_name: str | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        try:
            ca = Path(self.ca_file).read_bytes()
        except OSError as exc:
            raise GenerationError(
                f"cannot read TLS CA file {self.ca_file}: {exc.strerror}"
            ) from None
        return grpc.ssl_channel_credentials(root_certificates=ca)


def open_channel(
    target: str,
    retry: RetryPolicy = RetryPolicy(),
    tls: TlsOptions | None = None,
    load_balancing: str = LOAD_BALANCING[0],
) -> grpc.Channel:
    """The client's channel. ``round_robin`` spreads calls over every address the target resolves
    to: with ``dns:///SERVICE:8500`` and a headless Kubernetes Service, over every serving pod, and
    it picks up pods as DNS changes (a long-lived channel otherwise stays on one pod)."""
    if load_balancing not in LOAD_BALANCING:
        raise GenerationError(
            f"load_balancing must be one of {', '.join(LOAD_BALANCING)}, got {load_balancing!r}"
        )
    options = [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", retry.service_config(load_balancing)),
        ("grpc.max_send_message_length", defaults.MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", defaults.MAX_MESSAGE_BYTES),
        # Reconnect quickly to a server that is (re)starting: gRPC's default backoff grows to 120 s.
        ("grpc.initial_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[0]),
        ("grpc.min_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[0]),
        ("grpc.max_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[1]),
    ]
    if tls is None:
        return grpc.insecure_channel(target, options=options)
    if tls.server_name:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    return grpc.secure_channel(target, tls.credentials(), options=options)


def rpc_failure(exc: grpc.RpcError, rpc: str, where: str, timeout: float | None) -> GenerationError:
    """A one-line error naming the RPC, the target and (for deadlines) the deadline."""
    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else str(exc)
    name = code.name if code is not None else "UNKNOWN"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        deadline = f"its {timeout:g}s deadline" if timeout else "the deadline"
        return DeadlineExceededError(
            f"{rpc} to {where} did not finish within {deadline} (DEADLINE_EXCEEDED); "
            "raise --timeout or check the server's load",
            name,
        )
    if code == grpc.StatusCode.UNAVAILABLE:
        return ServerUnavailableError(
            f"{rpc} to {where} failed: server unavailable after retries ({details})", name
        )
    return RpcFailedError(f"{rpc} to {where} failed with {name}: {details}", name)


DEFAULT_TIMEOUT_SECONDS = defaults.CLIENT_TIMEOUT_SECONDS
# How servers name their row limit when they refuse a call for its size.
_ROW_LIMIT = (
    re.compile(r"larger than maximum input batch size (\d+)"),
    re.compile(r"above the server's limit of (\d+) \(--max-request-batch\)"),
)


def row_limit_of(exc: grpc.RpcError) -> int | None:
    """The server's row limit, when ``exc`` refuses a call for having more rows than that."""
    if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
        return None
    for pattern in _ROW_LIMIT:
        found = pattern.search(exc.details() or "")
        if found and int(found.group(1)) > 0:
            return int(found.group(1))
    return None


DEFAULT_RESUME_SECONDS = defaults.CLIENT_RESUME_SECONDS


@dataclasses.dataclass
class CallOptions:
    """How one client calls its server, shared by the backends of every version it uses."""

    timeout: float = DEFAULT_TIMEOUT_SECONDS
    wait_for_ready: bool = False
    max_rows: int = defaults.MAX_ROWS_PER_CALL  # lowered when a server refuses a call for its rows
    resume_seconds: float = DEFAULT_RESUME_SECONDS


class GrpcBackend(SignatureBackend):
    """One version of one model on one server, over a channel and stub reused for every call.

    ``version=None`` serves the latest version (learned now, and again by `latest()`); a given
    version is pinned by the user and never changes.
    """

    def __init__(
        self,
        target: str,
        model_name: str,
        version: int | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        retry: RetryPolicy = RetryPolicy(),
        tls: TlsOptions | None = None,
        wait_for_ready: bool = False,
        channel: grpc.Channel | None = None,
        max_rows: int = defaults.MAX_ROWS_PER_CALL,
        resume_seconds: float = DEFAULT_RESUME_SECONDS,
    ) -> None:
        if max_rows < 1:
            raise GenerationError(f"max_rows must be >= 1, got {max_rows}")
        if resume_seconds < 0:
            raise GenerationError(f"resume_seconds must be >= 0, got {resume_seconds}")
        self.target = target
        self.model_name = model_name
        self.pinned = version is not None
        self.options = CallOptions(timeout, wait_for_ready, max_rows, resume_seconds)
        self._owns_channel = channel is None
        self._channel = channel if channel is not None else open_channel(target, retry, tls)
        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._spec = model_pb2.ModelSpec(name=model_name)
        if version is not None:
            self._spec.version.value = version
        learned_version, self.signature = self._learn_signature()
        self._bind(learned_version)

    def _bind(self, version: int | None) -> None:
        if version is not None:
            self._spec.version.value = version
        self._model_specs = {name: self._model_spec_for(name) for name in SIGNATURES}

    @property
    def version(self) -> int | None:
        return self._spec.version.value if self._spec.HasField("version") else None

    @property
    def max_rows(self) -> int:
        return self.options.max_rows

    @property
    def timeout(self) -> float:
        return self.options.timeout

    @property
    def description(self) -> str:
        version = f" version {self.version}" if self.version is not None else ""
        return f"{self.target} (model {self.model_name!r}{version})"

    def latest(self) -> GrpcBackend:
        """The backend for the version to start a new text on: this one when it is pinned or still
        the server's latest, else a new backend (same channel and options) on the latest version."""
        if self.pinned:
            return self
        version, signature = self._learn_signature(model_pb2.ModelSpec(name=self.model_name))
        if version == self.version:
            return self
        log.info("%s now serves version %s; new texts use it", self.description, version)
        backend = copy.copy(self)  # the same channel, stub and (shared) call options
        backend._owns_channel = False
        backend._spec = model_pb2.ModelSpec(name=self.model_name)
        backend.signature = signature
        backend._bind(version)
        return backend

    def close(self) -> None:
        if self._owns_channel:
            self._channel.close()

    def _run(
        self,
        signature_name: str,
        inputs: dict[str, np.ndarray],
        outputs: Sequence[str] | None = None,
    ) -> dict[str, np.ndarray]:
        rows = len(next(iter(inputs.values())))
        resume_deadline = None
        while True:
            limit = self.options.max_rows
            bounds = [(start, min(start + limit, rows)) for start in range(0, rows, limit)] or [
                (0, 0)
            ]
            try:
                responses = self._predict_all(
                    [
                        self._request(signature_name, inputs, start, stop, outputs)
                        for start, stop in bounds
                    ]
                )
            except grpc.RpcError as exc:
                learned = row_limit_of(exc)
                if learned is not None and learned < limit:
                    log.info(
                        "%s takes at most %d rows per call; splitting calls accordingly",
                        self.description,
                        learned,
                    )
                    self.options.max_rows = learned
                    continue
                if exc.code() == grpc.StatusCode.UNAVAILABLE and self.options.resume_seconds > 0:
                    if resume_deadline is None:
                        resume_deadline = time.monotonic() + self.options.resume_seconds
                    if self._wait_for_server(resume_deadline, exc):
                        continue
                if exc.code() == grpc.StatusCode.NOT_FOUND and self.version is not None:
                    raise ModelVersionUnloadedError(
                        f"{self.description}: version {self.version} is no longer served (a new version "
                        f"replaced it mid-text); the text so far came from version {self.version}",
                        self.version,
                    ) from None
                raise rpc_failure(
                    exc, f"Predict ({signature_name})", self.description, self.timeout
                ) from None
            return _join(
                [
                    {name: from_tensor_proto(proto) for name, proto in r.outputs.items()}
                    for r in responses
                ]
            )

    def _wait_for_server(self, deadline: float, exc: grpc.RpcError) -> bool:
        """After UNAVAILABLE: wait until a server that went away serves again (True), or False at
        the deadline, or at once when it is up (a server shedding load: gRPC's retries were it)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0 or is_serving(self._channel):
            return False
        log.warning(
            "%s is unavailable (%s); waiting up to %.0fs for it to come back",
            self.description,
            exc.details(),
            remaining,
        )
        try:
            wait_until_serving(self._channel, self.target, self.model_name, remaining)
        except ServerNotReadyError:
            return False
        return True

    def _predict_all(
        self, requests: list[predict_pb2.PredictRequest]
    ) -> list[predict_pb2.PredictResponse]:
        """One blocking call, or all of them in flight at once; the first failure is raised."""
        timeout, wait = self.options.timeout, self.options.wait_for_ready
        if len(requests) == 1:
            return [self._stub.Predict(requests[0], timeout=timeout, wait_for_ready=wait)]
        futures = [
            self._stub.Predict.future(r, timeout=timeout, wait_for_ready=wait) for r in requests
        ]
        try:
            return [future.result() for future in futures]
        finally:
            for future in futures:
                future.cancel()

    def _request(
        self,
        signature_name: str,
        inputs: dict[str, np.ndarray],
        start: int,
        stop: int,
        outputs: Sequence[str] | None = None,
    ) -> predict_pb2.PredictRequest:
        request = predict_pb2.PredictRequest()
        request.model_spec.CopyFrom(self._model_specs[signature_name])
        request.output_filter.extend(outputs or ())
        whole = start == 0 and stop == len(next(iter(inputs.values())))
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(to_tensor_proto(value if whole else value[start:stop]))
        return request

    def _learn_signature(
        self, spec: model_pb2.ModelSpec | None = None
    ) -> tuple[int | None, StepSignature]:
        """GetModelMetadata for ``spec`` (default: this backend's): the version that answered and
        its signature."""
        request = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=spec if spec is not None else self._spec, metadata_field=["signature_def"]
        )
        try:
            response = self._stub.GetModelMetadata(
                request, timeout=self.options.timeout, wait_for_ready=self.options.wait_for_ready
            )
        except grpc.RpcError as exc:
            raise rpc_failure(
                exc, "GetModelMetadata", self.description, self.options.timeout
            ) from None
        signature_defs = get_model_metadata_pb2.SignatureDefMap()
        if "signature_def" not in response.metadata or not response.metadata[
            "signature_def"
        ].Unpack(signature_defs):
            raise IncompatibleModelError(f"{self.description} returned no signature_def metadata")
        version = (
            response.model_spec.version.value if response.model_spec.HasField("version") else None
        )
        signature = StepSignature.from_signature_def_map(signature_defs)
        log.info(
            "%s version %s: vocabulary %d, states %s",
            self.target,
            version,
            signature.vocab_size,
            ", ".join(signature.state_names),
        )
        return version, signature

    def _model_spec_for(self, signature_name: str) -> model_pb2.ModelSpec:
        spec = model_pb2.ModelSpec()
        spec.CopyFrom(self._spec)
        spec.signature_name = signature_name
        return spec


def _join(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([p[name] for p in parts], axis=0) for name in parts[0]}
