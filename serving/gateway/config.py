"""The gateway's options, validated once at the edge: where TF Serving is, how the engine batches,
and the limits every request is held to."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from pathlib import Path

from serving import defaults
from serving.contract import SAMPLE_WIDTH
from serving.errors import ServingError

API_KEY_ENV = "CHARLOOM_GATEWAY_API_KEY"  # vLLM reads VLLM_API_KEY the same way


@dataclass(frozen=True)
class GatewayConfig:
    """One field per `charloom gateway` flag; the ranges are checked in `__post_init__`."""

    target: str = f"localhost:{defaults.GRPC_PORT}"  # TF Serving (or charloom serve), gRPC
    model: str = defaults.MODEL_NAME
    host: str = "0.0.0.0"
    port: int = defaults.GATEWAY_HTTP_PORT  # the OpenAI-compatible HTTP API, /metrics, /health
    grpc_port: int | None = defaults.GATEWAY_GRPC_PORT  # the gateway's own gRPC API; None: off
    load_balancing: str = defaults.LOAD_BALANCING_POLICIES[0]
    max_rows_per_call: int = defaults.MAX_ROWS_PER_CALL  # TF Serving's max_batch_size
    steps_per_call: int = defaults.GATEWAY_STEPS_PER_CALL  # tokens a row samples per call
    max_running_rows: int = defaults.GATEWAY_MAX_RUNNING_ROWS  # rows decoding at once
    max_waiting_requests: int = defaults.GATEWAY_MAX_WAITING_REQUESTS  # more: 429
    max_prompt_chars: int = defaults.MAX_PROMPT_LENGTH
    max_tokens_limit: int = defaults.GATEWAY_MAX_TOKENS  # the largest max_tokens a request may ask
    max_n: int = defaults.GATEWAY_MAX_N  # samples per prompt
    max_prompts: int = defaults.GATEWAY_MAX_PROMPTS  # prompts per request
    max_body_bytes: int = defaults.GATEWAY_MAX_BODY_BYTES
    timeout: float = defaults.CLIENT_TIMEOUT_SECONDS  # deadline of each call to TF Serving
    api_key_file: Path | None = None  # one key per line; else $CHARLOOM_GATEWAY_API_KEY

    def __post_init__(self) -> None:
        for name, low, high in (
            ("port", 0, 65535),
            ("max_rows_per_call", 1, 1 << 20),
            ("steps_per_call", 1, SAMPLE_WIDTH),
            ("max_running_rows", 1, 1 << 20),
            ("max_waiting_requests", 1, 1 << 20),
            ("max_prompt_chars", 1, 1 << 24),
            ("max_tokens_limit", 1, 1 << 24),
            ("max_n", 1, 1 << 10),
            ("max_prompts", 1, 1 << 10),
            ("max_body_bytes", 1024, 1 << 30),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ServingError(
                    f"--{_flag(name)} must be an integer in [{low}, {high}], got {value!r}"
                )
        if self.grpc_port is not None and not 0 <= self.grpc_port <= 65535:
            raise ServingError(f"--grpc-port must be in [0, 65535], got {self.grpc_port}")
        if self.grpc_port is not None and self.grpc_port == self.port != 0:
            raise ServingError(f"--grpc-port and --port are both {self.port}")
        if not math.isfinite(self.timeout) or not 0 < self.timeout <= 3600:
            raise ServingError(f"--timeout must be in (0, 3600] seconds, got {self.timeout}")
        if self.load_balancing not in defaults.LOAD_BALANCING_POLICIES:
            raise ServingError(
                f"--load-balancing must be one of {', '.join(defaults.LOAD_BALANCING_POLICIES)}"
            )
        if not self.model:
            raise ServingError("--model must not be empty")
        if self.max_running_rows < self.max_n:
            raise ServingError("--max-running-rows must be at least --max-n")

    def api_keys(self) -> tuple[str, ...]:
        """The keys a bearer token must match: the file's lines, else the environment's; () off."""
        if self.api_key_file is not None:
            try:
                text = Path(self.api_key_file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ServingError(
                    f"cannot read --api-key-file {self.api_key_file}: {exc}"
                ) from None
            keys = tuple(line.strip() for line in text.splitlines() if line.strip())
            if not keys:
                raise ServingError(f"--api-key-file {self.api_key_file} holds no key")
            return keys
        key = os.environ.get(API_KEY_ENV, "").strip()
        return (key,) if key else ()


def _flag(name: str) -> str:
    return name.replace("_", "-")


FIELDS = tuple(f.name for f in fields(GatewayConfig))
