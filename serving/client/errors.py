"""Errors of the generation client: bad arguments, refused prompts and failed RPCs.

All derive from `GenerationError` (a `ServingError`), so the CLI reports them as one line and
library callers can catch one class.
"""

from __future__ import annotations

from serving.errors import ServingError


class GenerationError(ServingError):
    """Generation failed: a bad argument, a prompt the model cannot read, or an RPC that failed."""


class SamplingArgumentError(GenerationError, ValueError):
    """A sampling or generation argument is out of range; raised before any RPC."""


class UnknownCharactersError(SamplingArgumentError):
    """A prompt has characters outside the model's vocabulary; raised before any Predict RPC."""


class RpcFailedError(GenerationError):
    """The server answered an RPC with an error status (after retries, where they apply)."""

    def __init__(self, message: str, code_name: str) -> None:
        super().__init__(message)
        self.code_name = code_name


class DeadlineExceededError(RpcFailedError):
    """An RPC did not finish within its per-call deadline."""


class ServerUnavailableError(RpcFailedError):
    """The server stayed unreachable (UNAVAILABLE) through every retry."""


class ModelVersionUnloadedError(RpcFailedError):
    """The version a text started on stopped being served before the text was finished (a deploy
    replaced it). `generate` starts such a text again on the new version; `stream` raises this,
    since part of the text was already delivered."""

    def __init__(self, message: str, version: int) -> None:
        super().__init__(message, "NOT_FOUND")
        self.version = version


class IncompatibleModelError(GenerationError):
    """The served model's signatures do not follow the charloom signature contract."""


class FeatureNotExportedError(IncompatibleModelError):
    """The request asks for something the served export predates (its message names the
    feature and the version): a client's choice the deployment cannot serve, not a fault."""


class ServerNotReadyError(GenerationError):
    """The server did not report SERVING (or the model AVAILABLE) within the wait."""
