"""Public generation API: `GenerationClient` (gRPC) and `TextGenerator` (any backend).

Arguments are validated, and prompts checked against the model's vocabulary, before any Predict
RPC; the model's signatures and vocabulary are learned from the server on first use, and again
whenever a text starts on a version the client has not seen: each text runs on one version, the
latest when it starts (unless the client pins one), so a deploy never strands a long-lived client.

    with GenerationClient("localhost:8500", "charloom") as client:
        [result] = client.generate("ROMEO:", max_new_tokens=200, temperature=0.8, seed=1)
        for chunk in client.stream("JULIET:", max_new_tokens=200):
            print(chunk.text, end="", flush=True)
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence

import grpc
import numpy as np

from serving import defaults
from serving.client.arguments import (
    validate_connection,
    validate_seconds,
    validate_steps_per_call,
)
from serving.client.backends import SignatureBackend, learn_vocabulary
from serving.client.errors import ModelVersionUnloadedError, SamplingArgumentError
from serving.client.generation import (
    GenerationRequest,
    GenerationResult,
    TextChunk,
    collect_results,
    stream_generation,
    validate_counts,
)
from serving.client.grpc_backend import (
    DEFAULT_RESUME_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    GrpcBackend,
    RetryPolicy,
    TlsOptions,
    open_channel,
)
from serving.client.readiness import wait_until_serving
from serving.client.sampling import SamplingParams, resolve_seed
from serving.client.scoring import Evaluation, TokenScores, evaluate, score_texts
from serving.client.stop_strings import validate_stop_strings
from serving.client.vocabulary import TokenVocabulary
from serving.contract import LOGPROBS, SAMPLING_RANGES

DEFAULT_MAX_NEW_TOKENS = defaults.MAX_NEW_TOKENS
DEFAULT_STEPS_PER_CALL = defaults.STEPS_PER_CALL  # characters per Predict call through `sample`
DEFAULT_TARGET = f"localhost:{defaults.GRPC_PORT}"
# How often `generate` starts a text again because its version was unloaded mid-text.
RESTARTS_ON_NEW_VERSION = 3
log = logging.getLogger(__name__)


class TextGenerator:
    """Generation over one backend (gRPC or in-process); learns the vocabulary once.

    ``steps_per_call``: characters sampled by the model per call when it has a ``sample``
    signature (fewer round trips); 1 = one ``serving_default`` call per character, sampled here.
    The text is the same either way.
    """

    def __init__(
        self,
        backend: SignatureBackend | None = None,
        *,
        steps_per_call: int = DEFAULT_STEPS_PER_CALL,
    ) -> None:
        self.steps_per_call = validate_steps_per_call(steps_per_call)
        self._backend = backend
        self._vocabularies: dict[int | None, TokenVocabulary] = {}  # by model version
        self._connect_lock = threading.Lock()  # threads may share a generator; connect once
        self._just_connected = False

    @classmethod
    def from_saved_model(
        cls, saved_model_dir: str | os.PathLike, *, steps_per_call: int = DEFAULT_STEPS_PER_CALL
    ) -> TextGenerator:
        """In-process generation from an exported SavedModel (reference for tests and benchmarks)."""
        from serving.client.local_backend import LocalBackend

        return cls(LocalBackend(saved_model_dir), steps_per_call=steps_per_call)

    @property
    def backend(self) -> SignatureBackend:
        """The backend of the version the last text started on (connects on first use)."""
        with self._connect_lock:
            if self._backend is None:
                self._backend = self._connect()
                self._just_connected = True
            return self._backend

    @property
    def vocabulary(self) -> TokenVocabulary:
        """The vocabulary of `backend`'s version."""
        return self._vocabulary_of(self.backend)

    def _vocabulary_of(self, backend: SignatureBackend) -> TokenVocabulary:
        version = getattr(backend, "version", None)
        with self._connect_lock:
            if version not in self._vocabularies:
                self._vocabularies[version] = learn_vocabulary(backend)
            return self._vocabularies[version]

    def model_for_text(self) -> tuple[SignatureBackend, TokenVocabulary]:
        """The backend and vocabulary a new text runs on: the latest version (one metadata call
        per text; none for the first text, which the connection itself learned)."""
        backend = self.backend
        with self._connect_lock:
            fresh, self._just_connected = self._just_connected, False
        latest = getattr(backend, "latest", None)
        if latest is not None and not fresh:
            backend = latest()
            with self._connect_lock:
                self._backend = backend
        return backend, self._vocabulary_of(backend)

    def request(
        self,
        prompts: str | Sequence[str],
        *,
        num_samples: int = 1,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        temperature: float = SamplingParams.temperature,
        top_k: int = SamplingParams.top_k,
        top_p: float = SamplingParams.top_p,
        min_p: float = SamplingParams.min_p,
        repetition_penalty: float = SamplingParams.repetition_penalty,
        frequency_penalty: float = SamplingParams.frequency_penalty,
        presence_penalty: float = SamplingParams.presence_penalty,
        logit_bias: Mapping[str, float] | None = None,
        seed: int | None = None,
        stop: str | Sequence[str] | None = None,
        logprobs: int | None = None,
    ) -> GenerationRequest:
        """Validate arguments without any RPC (SamplingArgumentError on a bad one). ``logprobs``
        N returns each token's log-probability and its N most likely alternatives (0: none);
        ``logit_bias`` maps tokens (a character model's: characters) to a bias."""
        rule = SAMPLING_RANGES[LOGPROBS]
        if logprobs is not None and (
            not rule.accepts(logprobs) or not isinstance(logprobs, (int, np.integer))
        ):
            raise SamplingArgumentError(f"{rule.message}, got {logprobs!r}")
        return GenerationRequest(
            prompts=validate_counts(prompts, num_samples, max_new_tokens),
            num_samples=int(num_samples),
            max_new_tokens=int(max_new_tokens),
            sampling=SamplingParams(
                temperature=temperature,
                top_k=top_k,
                top_p=top_p,
                min_p=min_p,
                repetition_penalty=repetition_penalty,
                frequency_penalty=frequency_penalty,
                presence_penalty=presence_penalty,
                logit_bias=tuple((logit_bias or {}).items()),
            ),
            seed=resolve_seed(seed),
            stop=validate_stop_strings(stop),
            logprobs=None if logprobs is None else int(logprobs),
        )

    def stream(self, prompts: str | Sequence[str], **options) -> Iterator[TextChunk]:
        """Text chunks as they are produced; options as for `request`.

        Validation and the vocabulary check happen now, not on the first ``next()``. If the
        text's version is unloaded before it ends, iteration raises ModelVersionUnloadedError.
        """
        return self.stream_request(self.request(prompts, **options))

    def generate(self, prompts: str | Sequence[str], **options) -> list[GenerationResult]:
        """One result per (prompt, sample), ordered by prompt then sample; options as for `request`.

        A text whose version is unloaded mid-way (a deploy) is generated again on the new version.
        """
        request = self.request(prompts, **options)
        restarts = 0
        while True:
            backend, vocabulary = self.model_for_text()
            try:
                chunks = self._stream_on(backend, vocabulary, request)
                return collect_results(request, chunks, getattr(backend, "version", None))
            except ModelVersionUnloadedError as exc:
                restarts += 1
                if getattr(backend, "pinned", True) or restarts > RESTARTS_ON_NEW_VERSION:
                    raise
                log.info("%s; generating the text again on the version now served", exc)

    def score(self, texts: str | Sequence[str], context: str = "") -> list[TokenScores]:
        """Each text's tokens and their log-probabilities after ``context`` (the model's
        ``score`` signature; see serving/client/scoring.py)."""
        texts = (texts,) if isinstance(texts, str) else tuple(texts)
        if not texts or not all(isinstance(t, str) and t for t in texts):
            raise SamplingArgumentError("score needs at least one text, each a non-empty string")
        backend, vocabulary = self.model_for_text()
        return score_texts(backend, vocabulary, texts, context)

    def evaluate(self, text: str, window: int | None = None) -> Evaluation:
        """Bits per character of ``text`` (as one sequence, or in windows of ``window`` + 1
        tokens from zero states, as the trainer's validation)."""
        if window is not None and (
            isinstance(window, bool) or not isinstance(window, int) or window < 1
        ):
            raise SamplingArgumentError(f"window must be an integer >= 1, got {window!r}")
        backend, vocabulary = self.model_for_text()
        return evaluate(backend, vocabulary, text, window)

    def stream_request(self, request: GenerationRequest) -> Iterator[TextChunk]:
        backend, vocabulary = self.model_for_text()
        return self._stream_on(backend, vocabulary, request)

    def _stream_on(
        self, backend: SignatureBackend, vocabulary: TokenVocabulary, request: GenerationRequest
    ) -> Iterator[TextChunk]:
        for prompt in request.prompts:
            vocabulary.encode(prompt)  # UnknownCharactersError before any Predict RPC
        request.sampling.bias_vector(vocabulary.token_ids, vocabulary.size)  # its keys, too
        return stream_generation(backend, vocabulary, request, self.steps_per_call)

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()

    def __enter__(self) -> TextGenerator:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _connect(self) -> SignatureBackend:
        raise RuntimeError("TextGenerator needs a backend")


class GenerationClient(TextGenerator):
    """Generation from a model served over gRPC by TF Serving or `charloom serve`.

    Connects lazily: the first generate/stream call fetches the model metadata (signatures,
    version) and the vocabulary. Each later text asks which version is the latest (one
    GetModelMetadata call) and follows a new one; ``version`` pins one instead. ``timeout`` is
    the deadline of each RPC in seconds. ``max_rows_per_call`` bounds the rows of one Predict
    call (TF Serving's ``max_batch_size``); more rows are sent as several calls at once, and a
    server's smaller limit is learned. A server that goes away mid-text is waited for up to
    ``resume_seconds`` (0: fail at once), and the text continues where it was.
    ``load_balancing="round_robin"`` with a ``dns:///`` target spreads calls over every address
    (every pod behind a headless Service).
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        model_name: str = defaults.MODEL_NAME,
        version: int | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        retry: RetryPolicy = RetryPolicy(),
        tls_ca: str | os.PathLike | None = None,
        tls_server_name: str | None = None,
        wait_for_ready: bool = False,
        steps_per_call: int = DEFAULT_STEPS_PER_CALL,
        max_rows_per_call: int = defaults.MAX_ROWS_PER_CALL,
        resume_seconds: float = DEFAULT_RESUME_SECONDS,
        load_balancing: str = defaults.LOAD_BALANCING_POLICIES[0],
    ) -> None:
        super().__init__(steps_per_call=steps_per_call)
        validate_connection(timeout, resume_seconds, version, max_rows_per_call)
        if tls_server_name is not None and tls_ca is None:
            raise SamplingArgumentError(
                "tls_server_name (--tls-server-name) needs tls_ca (--tls-ca): without a "
                "CA the connection would not use TLS at all"
            )
        self.max_rows_per_call = max_rows_per_call
        self.target = target
        self.model_name = model_name
        self.version = version
        self.timeout = timeout
        self.retry = retry
        self.tls = TlsOptions(tls_ca, tls_server_name) if tls_ca is not None else None
        self.wait_for_ready = wait_for_ready
        self.resume_seconds = resume_seconds
        self.load_balancing = load_balancing
        self._channel: grpc.Channel | None = None
        self._channel_lock = threading.Lock()

    @property
    def channel(self) -> grpc.Channel:
        """The one channel every RPC of this client uses (opened on first use)."""
        with self._channel_lock:
            if self._channel is None:
                self._channel = open_channel(self.target, self.retry, self.tls, self.load_balancing)
            return self._channel

    def wait_until_ready(self, wait_seconds: float) -> None:
        """Block until the server reports SERVING (see serving.client.readiness); no Predict RPC."""
        validate_seconds("wait_seconds", wait_seconds)
        wait_until_serving(self.channel, self.target, self.model_name, wait_seconds)

    def close(self) -> None:
        super().close()
        if self._channel is not None:
            self._channel.close()

    def _connect(self) -> GrpcBackend:
        return GrpcBackend(
            self.target,
            self.model_name,
            self.version,
            timeout=self.timeout,
            wait_for_ready=self.wait_for_ready,
            channel=self.channel,
            max_rows=self.max_rows_per_call,
            resume_seconds=self.resume_seconds,
        )
