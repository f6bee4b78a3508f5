"""gRPC channels for the client: retry policy, TLS, message limits, and RPC error translation.

Retries use gRPC's own retry machinery (a ``retryPolicy`` in the channel's service config): an RPC
that fails with UNAVAILABLE (server not up yet, connection reset, a server shedding load) is
re-sent with exponential backoff, without any Python on the per-step path. gRPC caps attempts at 5.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import grpc

from serving import defaults
from serving.client_errors import (DeadlineExceededError, GenerationError, RpcFailedError,
                                   ServerUnavailableError)

RETRIED_SERVICES = ("tensorflow.serving.PredictionService", "tensorflow.serving.ModelService")
MAX_GRPC_ATTEMPTS = 5
RECONNECT_BACKOFF_MS = (100, 1000)  # first and largest delay between connection attempts


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Retry on UNAVAILABLE: ``max_attempts`` tries in all (1 = no retries), exponential backoff."""

    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 2.0
    backoff_multiplier: float = 2.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= MAX_GRPC_ATTEMPTS:
            raise GenerationError(f"max_attempts must be in [1, {MAX_GRPC_ATTEMPTS}] (gRPC's limit), "
                                  f"got {self.max_attempts}")
        if not 0 < self.initial_backoff <= self.max_backoff or self.backoff_multiplier < 1:
            raise GenerationError("backoff needs 0 < initial_backoff <= max_backoff and multiplier >= 1")

    def service_config(self) -> str:
        method_config: dict = {"name": [{"service": s} for s in RETRIED_SERVICES]}
        if self.max_attempts > 1:
            method_config["retryPolicy"] = {
                "maxAttempts": self.max_attempts,
                "initialBackoff": f"{self.initial_backoff:.3f}s",
                "maxBackoff": f"{self.max_backoff:.3f}s",
                "backoffMultiplier": self.backoff_multiplier,
                "retryableStatusCodes": ["UNAVAILABLE"],
            }
        return json.dumps({"methodConfig": [method_config]})


@dataclasses.dataclass(frozen=True)
class TlsOptions:
    """Server authentication: the CA that signed the server's certificate; optional name override."""

    ca_file: str | Path
    server_name: str | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        try:
            ca = Path(self.ca_file).read_bytes()
        except OSError as exc:
            raise GenerationError(f"cannot read TLS CA file {self.ca_file}: {exc.strerror}") from None
        return grpc.ssl_channel_credentials(root_certificates=ca)


def open_channel(target: str, retry: RetryPolicy = RetryPolicy(),
                 tls: TlsOptions | None = None) -> grpc.Channel:
    options = [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", retry.service_config()),
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
            "raise --timeout or check the server's load", name)
    if code == grpc.StatusCode.UNAVAILABLE:
        return ServerUnavailableError(
            f"{rpc} to {where} failed: server unavailable after retries ({details})", name)
    return RpcFailedError(f"{rpc} to {where} failed with {name}: {details}", name)
