"""TF Serving (or `charloom serve`) as the gateway sees it: the latest version's backend and
vocabulary, through the generation client (serving/client), which learns both from the server."""

from __future__ import annotations

import threading

from serving.client.backends import SignatureBackend
from serving.client.generator import GenerationClient
from serving.client.grpc_backend import RetryPolicy
from serving.client.readiness import is_serving
from serving.client.vocabulary import TokenVocabulary

UPSTREAM_ATTEMPTS = 3  # gRPC retries of an UNAVAILABLE call before a request gets 503


class Upstream:
    """One channel to the model server; `latest()` asks which version is the latest (one
    GetModelMetadata call) and returns its backend and vocabulary (learned once per version).
    A server that is down fails the call at once (no waiting): the request gets 503 and the next
    one tries again."""

    def __init__(
        self,
        target: str,
        model: str,
        *,
        timeout: float,
        max_rows_per_call: int,
        load_balancing: str,
    ) -> None:
        self.target = target
        self.model = model
        self._client = GenerationClient(
            target,
            model,
            timeout=timeout,
            retry=RetryPolicy(max_attempts=UPSTREAM_ATTEMPTS),
            max_rows_per_call=max_rows_per_call,
            resume_seconds=0.0,
            load_balancing=load_balancing,
        )
        self._lock = threading.Lock()

    def latest(self) -> tuple[SignatureBackend, TokenVocabulary]:
        with self._lock:
            return self._client.model_for_text()

    def serving(self) -> bool:
        """Whether the model server's health service says SERVING now (a readiness probe)."""
        return is_serving(self._client.channel)

    def close(self) -> None:
        self._client.close()
