"""Errors that carry a gRPC status code, and the mapping from TensorFlow errors to them.

Validation and execution raise `ServingStatus` wherever they find a problem; one place
(`serving.rpc.handle_rpc`) turns it into the RPC's status, so every client mistake gets the code
and message TF Serving would give, and anything else becomes INTERNAL.
"""

from __future__ import annotations

import re

import grpc
import tensorflow as tf

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
        while rest and (not rest[0].strip() or rest[0].startswith("Detected at node")
                        or rest[0].startswith((" ", "<stack traces"))):
            rest = rest[1:]
        if rest:
            lines = rest
    core = "\n".join(lines)
    return _OP_SUFFIX.sub("", core).strip() or message


def from_tf_error(error: tf.errors.OpError) -> ServingStatus:
    """An OpError keeps its code: TF and gRPC number their status codes identically."""
    code = _CODES_BY_NUMBER.get(int(error.error_code), grpc.StatusCode.UNKNOWN)
    return ServingStatus(code, runtime_message(error.message))
