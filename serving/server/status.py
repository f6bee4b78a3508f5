"""Errors that carry a gRPC status code, and the frame around every RPC body that answers them.

Validation and execution raise `ServingStatus` wherever they find a problem; one place
(`handle_rpc`) turns it into the RPC's status, so every client mistake gets the code and message
TF Serving would give, and anything else becomes INTERNAL with its traceback in the log. The
frame also checks the deadline and records the request's metrics.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import TypeVar

import grpc
import tensorflow as tf

from serving.server.metrics import GRPC, ServerMetrics

logger = logging.getLogger(__name__)
Response = TypeVar("Response")
_NO_DEADLINE_SECONDS = 10 * 365 * 24 * 3600

# grpc.StatusCode by its numeric value (TensorFlow's error codes use the same numbers).
_CODES_BY_NUMBER: dict[int, grpc.StatusCode] = {code.value[0]: code for code in grpc.StatusCode}
_OP_SUFFIX = re.compile(r"\s*\[Op:[^\]]*\]\s*$")


class ServingStatus(Exception):
    """A request failure with the gRPC status code and message to return to the client."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"ServingStatus({self.code.name}, {self.message!r})"


def invalid_argument(message: str) -> ServingStatus:
    return ServingStatus(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingStatus:
    return ServingStatus(grpc.StatusCode.NOT_FOUND, message)


def failed_precondition(message: str) -> ServingStatus:
    return ServingStatus(grpc.StatusCode.FAILED_PRECONDITION, message)


def unavailable(message: str) -> ServingStatus:
    return ServingStatus(grpc.StatusCode.UNAVAILABLE, message)


def unimplemented(message: str) -> ServingStatus:
    return ServingStatus(grpc.StatusCode.UNIMPLEMENTED, message)


def resource_exhausted(message: str) -> ServingStatus:
    return ServingStatus(grpc.StatusCode.RESOURCE_EXHAUSTED, message)


def deadline_exceeded(message: str) -> ServingStatus:
    return ServingStatus(grpc.StatusCode.DEADLINE_EXCEEDED, message)


def runtime_message(message: str) -> str:
    """The TF runtime's own message, without the Python wrapper eager calls add around it.

    `Graph execution error: Detected at node ... (most recent call last): <trace>` and the trailing
    ` [Op:__inference_...]` name server-side code; TF Serving answers with the runtime part only.
    """
    lines = message.splitlines()
    if lines and lines[0].startswith("Graph execution error"):
        rest = lines[1:]
        while rest and (
            not rest[0].strip()
            or rest[0].startswith("Detected at node")
            or rest[0].startswith((" ", "<stack traces"))
        ):
            rest = rest[1:]
        if rest:
            lines = rest
    core = "\n".join(lines)
    return _OP_SUFFIX.sub("", core).strip() or message


def from_tf_error(error: tf.errors.OpError) -> ServingStatus:
    """An OpError keeps its code: TF and gRPC number their status codes identically."""
    code = _CODES_BY_NUMBER.get(int(error.error_code), grpc.StatusCode.UNKNOWN)
    return ServingStatus(code, runtime_message(error.message))


def deadline_of(context: grpc.ServicerContext) -> float | None:
    """The RPC's deadline as a time.monotonic() value (None: the client set none)."""
    remaining = context.time_remaining()
    if remaining is None or remaining > _NO_DEADLINE_SECONDS:
        return None  # grpc reports "no deadline" as a practically infinite remaining time
    return time.monotonic() + remaining


def handle_rpc(
    context: grpc.ServicerContext,
    metrics: ServerMetrics,
    api: str,
    model_name: str,
    body: Callable[[], Response],
    recorded: bool = False,
) -> Response:
    """Run `body`; ServingStatus -> its code, anything else -> INTERNAL with a logged traceback.
    ``recorded``: count it in the request metrics (TF Serving counts Predict, not metadata or status)."""
    started = time.monotonic()
    status = grpc.StatusCode.OK
    try:
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            raise deadline_exceeded("Deadline Exceeded")
        return body()
    except ServingStatus as exc:
        status = exc.code
        logger.debug("%s on %r failed: %s %s", api, model_name, exc.code.name, exc.message)
        context.abort(exc.code, exc.message)
        raise  # unreachable: abort raises
    except Exception:
        status = grpc.StatusCode.INTERNAL
        logger.exception("%s on %r failed with a server error", api, model_name)
        context.abort(status, f"internal server error in {api}; see the server log")
        raise  # unreachable: abort raises
    finally:
        if recorded:
            metrics.record_request(model_name, api, GRPC, status.name, time.monotonic() - started)
