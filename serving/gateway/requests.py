"""What a completion request may say, for the HTTP and the gRPC API alike: OpenAI's
``/v1/completions`` fields, vLLM's ``top_k``, ``min_p`` and ``repetition_penalty`` extensions,
and this gateway's limits.

A field OpenAI's API has but the gateway does not support yet is refused with a 400 naming it,
unless it holds its neutral value (what OpenAI does when the field is left out: SDKs such as
LangChain's send ``presence_penalty: 0``), and a field OpenAI's API does not have is refused too.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from serving import defaults
from serving.client.errors import SamplingArgumentError
from serving.client.sampling import SamplingParams, resolve_seed
from serving.client.stop_strings import validate_stop_strings
from serving.contract import LOGPROBS, SAMPLING_RANGES
from serving.gateway.config import GatewayConfig
from serving.gateway.jobs import JobSpec

MAX_STOP_STRINGS = 4  # OpenAI's limit
MAX_SEED = 2**63 - 1

# OpenAI completion fields the gateway does not support yet, each with its neutral value.
UNSUPPORTED_FIELDS: dict[str, Any] = {
    "best_of": 1,
    "suffix": None,
    "user": None,
}


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: bool = False


class CompletionRequest(BaseModel):
    """``POST /v1/completions``: OpenAI's fields (those supported), and ``top_k`` as vLLM takes
    it. Published as the OpenAPI schema's request body."""

    model_config = ConfigDict(extra="forbid", strict=False)

    model: str = Field(description="the served model's name (GET /v1/models)")
    prompt: str | list[str] = Field(description="a prompt, or a list of prompts")
    max_tokens: int | None = Field(
        defaults.GATEWAY_DEFAULT_MAX_TOKENS,
        description="tokens to generate per choice (characters, for a character model)",
    )
    temperature: float | None = Field(1.0, description=">= 0; 0 = greedy")
    top_p: float | None = Field(1.0, description="in (0, 1]; 1 = off")
    top_k: int | None = Field(
        0, description="vLLM's extension: keep the k most likely tokens; 0 or -1 = off"
    )
    n: int | None = Field(1, description="choices per prompt")
    stop: str | list[str] | None = Field(
        None, description="up to 4 stop strings, not part of the text"
    )
    min_p: float | None = Field(
        0.0, description="vLLM's extension: cut tokens below min_p x the most likely; 0 = off"
    )
    repetition_penalty: float | None = Field(
        1.0, description="vLLM's extension: > 0; 1 = none (serving/sampling_rule.py)"
    )
    frequency_penalty: float | None = Field(0.0, description="in [-2, 2]; 0 = none")
    presence_penalty: float | None = Field(0.0, description="in [-2, 2]; 0 = none")
    logit_bias: dict[str, float] | None = Field(
        None,
        description="token -> bias in [-100, 100]; keys are tokens (a character model's tokens "
        "are its characters), not token ids",
    )
    logprobs: int | None = Field(
        None, description="each token's log-probability and its N (0-20) top alternatives"
    )
    echo: bool | None = Field(
        False, description="return the prompt before the text (with logprobs: its tokens' too)"
    )
    seed: int | None = Field(None, description="same seed, same text; absent: a random seed")
    stream: bool | None = Field(False, description="server-sent events, ending with data: [DONE]")
    stream_options: StreamOptions | None = None


def parse_completion(body: Any, config: GatewayConfig) -> tuple[CompletionRequest, JobSpec]:
    """Validate a decoded JSON body (SamplingArgumentError naming the field on a mistake)."""
    if not isinstance(body, dict):
        raise SamplingArgumentError("the request body must be a JSON object")
    for name, neutral in UNSUPPORTED_FIELDS.items():
        if name in body and body[name] != neutral and body[name] is not None:
            raise FieldError(name, f"{name} is not supported by this gateway yet")
    fields = {k: v for k, v in body.items() if k not in UNSUPPORTED_FIELDS}
    try:
        request = CompletionRequest.model_validate(fields)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = str(problem["loc"][0]) if problem["loc"] else "body"
        if problem["type"] == "extra_forbidden":
            raise FieldError(field, f"{field} is not a field of /v1/completions") from None
        if field == "prompt":
            raise FieldError(
                field, "prompt must be a string or a list of strings (token ids are not supported)"
            ) from None
        raise FieldError(field, f"{field}: {problem['msg']}") from None
    return request, job_spec(request, config)


class FieldError(SamplingArgumentError):
    """A request field is wrong; ``param`` names it (OpenAI's error body carries it)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


def job_spec(request: CompletionRequest, config: GatewayConfig) -> JobSpec:
    prompts = (request.prompt,) if isinstance(request.prompt, str) else tuple(request.prompt)
    if not prompts:
        raise FieldError("prompt", "prompt must hold at least one prompt")
    if len(prompts) > config.max_prompts:
        raise FieldError(
            "prompt", f"at most {config.max_prompts} prompts per request, got {len(prompts)}"
        )
    for prompt in prompts:
        if not prompt:
            raise FieldError("prompt", "prompts must not be empty: the model continues a text")
        if len(prompt) > config.max_prompt_chars:
            raise FieldError(
                "prompt",
                f"a prompt of {len(prompt)} characters is longer than this gateway's limit of "
                f"{config.max_prompt_chars}",
            )
    max_tokens = _int(
        "max_tokens",
        request.max_tokens,
        defaults.GATEWAY_DEFAULT_MAX_TOKENS,
        1,
        config.max_tokens_limit,
    )
    n = _int("n", request.n, 1, 1, config.max_n)
    top_k = request.top_k if request.top_k is not None else 0
    if top_k == -1:
        top_k = 0  # vLLM's spelling of "off"
    try:
        sampling = SamplingParams(
            temperature=_number(request.temperature, 1.0),
            top_k=top_k,
            top_p=_number(request.top_p, 1.0),
            min_p=_number(request.min_p, 0.0),
            repetition_penalty=_number(request.repetition_penalty, 1.0),
            frequency_penalty=_number(request.frequency_penalty, 0.0),
            presence_penalty=_number(request.presence_penalty, 0.0),
            logit_bias=tuple((request.logit_bias or {}).items()),
        )
    except SamplingArgumentError as exc:
        raise FieldError(str(exc).split(" ")[0], str(exc)) from None
    stop = request.stop
    if isinstance(stop, list) and len(stop) > MAX_STOP_STRINGS:
        raise FieldError("stop", f"at most {MAX_STOP_STRINGS} stop strings, got {len(stop)}")
    try:
        stop_strings = validate_stop_strings(stop)
    except SamplingArgumentError as exc:
        raise FieldError("stop", str(exc)) from None
    if request.seed is not None and not 0 <= request.seed <= MAX_SEED:
        raise FieldError("seed", f"seed must be an integer in [0, {MAX_SEED}], got {request.seed}")
    if request.stream_options is not None and not request.stream:
        raise FieldError("stream_options", "stream_options needs stream: true")
    rule = SAMPLING_RANGES[LOGPROBS]
    if request.logprobs is not None and not rule.accepts(request.logprobs):
        raise FieldError("logprobs", f"{rule.message}, got {request.logprobs}")
    if request.echo and request.stream:
        raise FieldError("echo", "echo is supported without stream only")
    return JobSpec(
        prompts,
        n,
        max_tokens,
        sampling,
        resolve_seed(request.seed),
        stop_strings,
        logprobs=request.logprobs,
        echo=bool(request.echo),
    )


def _int(name: str, value: int | None, default: int, low: int, high: int) -> int:
    value = default if value is None else value
    if not low <= value <= high:
        raise FieldError(name, f"{name} must be an integer in [{low}, {high}], got {value}")
    return value


def _number(value: float | None, default: float) -> float:
    """The value, or the default when absent (SamplingParams checks the range)."""
    return default if value is None else float(value)
