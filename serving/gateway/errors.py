"""How a failure reaches an application: one rule for the HTTP API (status, OpenAI's error body)
and the gRPC API (status code), so both tell the same mistake the same way."""

from __future__ import annotations

import dataclasses
import json

import grpc

from serving import defaults
from serving.client.errors import (
    DeadlineExceededError,
    FeatureNotExportedError,
    IncompatibleModelError,
    SamplingArgumentError,
    ServerNotReadyError,
    ServerUnavailableError,
)
from serving.gateway.engine import QueueFullError


class ModelNotFoundError(SamplingArgumentError):
    """The request names a model this gateway does not serve."""

    def __init__(self, name: str, served: str) -> None:
        super().__init__(f"The model `{name}` does not exist (this gateway serves `{served}`)")


class UnauthorizedError(SamplingArgumentError):
    """No API key, or a wrong one."""


@dataclasses.dataclass(frozen=True)
class Failure:
    http_status: int
    grpc_code: grpc.StatusCode
    error_type: str  # OpenAI's error "type"
    code: str | None = None  # OpenAI's error "code"
    retry_after: int | None = None


def classify(error: BaseException) -> Failure:
    """The status an error answers with; anything not named here is the model server's fault."""
    if isinstance(error, QueueFullError):
        return Failure(
            429,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "rate_limit_error",
            "rate_limit_exceeded",
            defaults.GATEWAY_RETRY_AFTER_SECONDS,
        )
    if isinstance(error, UnauthorizedError):
        return Failure(
            401, grpc.StatusCode.UNAUTHENTICATED, "invalid_request_error", "invalid_api_key"
        )
    if isinstance(error, ModelNotFoundError):
        return Failure(404, grpc.StatusCode.NOT_FOUND, "invalid_request_error", "model_not_found")
    if isinstance(error, SamplingArgumentError):
        return Failure(400, grpc.StatusCode.INVALID_ARGUMENT, "invalid_request_error")
    if isinstance(error, ServerUnavailableError | ServerNotReadyError):
        return Failure(
            503,
            grpc.StatusCode.UNAVAILABLE,
            "server_error",
            "model_server_unavailable",
            defaults.GATEWAY_RETRY_AFTER_SECONDS,
        )
    if isinstance(error, DeadlineExceededError):
        return Failure(
            504, grpc.StatusCode.DEADLINE_EXCEEDED, "server_error", "model_server_timeout"
        )
    if isinstance(error, FeatureNotExportedError):
        return Failure(
            400,
            grpc.StatusCode.FAILED_PRECONDITION,
            "invalid_request_error",
            "feature_not_exported",
        )
    if isinstance(error, IncompatibleModelError):
        return Failure(
            502, grpc.StatusCode.FAILED_PRECONDITION, "server_error", "incompatible_model"
        )
    return Failure(502, grpc.StatusCode.UNAVAILABLE, "server_error", "model_server_error")


def error_body(message: str, failure: Failure, param: str | None = None) -> bytes:
    """OpenAI's error body; ASCII JSON, so any character of a message (a lone surrogate from a
    hostile prompt included) encodes."""
    body = {
        "error": {
            "message": message,
            "type": failure.error_type,
            "param": param,
            "code": failure.code,
        }
    }
    return json.dumps(body, ensure_ascii=True).encode("ascii")
