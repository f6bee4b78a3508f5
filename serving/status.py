"""Errors that carry a gRPC status code, and the mapping from TensorFlow errors to them.

Validation and execution raise `ServingStatus` wherever they find a problem; one place
(`serving.rpc.handle_rpc`) turns it into the RPC's status, so every client mistake gets the code
and message TF Serving would give, and anything else becomes INTERNAL.
"""

from __future__ import annotations

import grpc
import tensorflow as tf

# grpc.StatusCode by its numeric value (TensorFlow's error codes use the same numbers).
_CODES_BY_NUMBER: dict[int, grpc.StatusCode] = {code.value[0]: code for code in grpc.StatusCode}


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


def deadline_exceeded(message: str) -> ServingStatus:
    return ServingStatus(grpc.StatusCode.DEADLINE_EXCEEDED, message)


def from_tf_error(error: tf.errors.OpError) -> ServingStatus:
    """An OpError keeps its code: TF and gRPC number their status codes identically."""
    code = _CODES_BY_NUMBER.get(int(error.error_code), grpc.StatusCode.UNKNOWN)
    return ServingStatus(code, error.message)
