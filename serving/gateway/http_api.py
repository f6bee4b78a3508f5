"""The OpenAI-compatible HTTP API: ``POST /v1/completions`` (plain and server-sent events),
``GET /v1/models``, ``GET /health`` (the gateway is up), ``GET /ready`` (and its model server
serves), ``GET /metrics`` (Prometheus) and the OpenAPI schema at ``/openapi.json``.

Errors are OpenAI's body ``{"error": {"message", "type", "param", "code"}}`` with the usual
codes: 400 for a bad field (named), 401 for a missing or wrong API key, 404 for an unknown model,
413 for a body over the limit, 429 (with Retry-After) when too many requests wait, 503 while the
model server is unreachable, 504 when it times out, 502 when it answers something unusable.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.client.errors import GenerationError
from serving.gateway.choices import ChoiceCollector, TextOffsets, choice_index, openai_logprobs
from serving.gateway.errors import classify, error_body
from serving.gateway.jobs import Failed, Finished, PromptScored, Started
from serving.gateway.requests import CompletionRequest, FieldError, parse_completion
from serving.gateway.service import Gateway, started

DISCONNECT_POLL_SECONDS = 0.25


def create_app(gateway: Gateway) -> FastAPI:
    app = FastAPI(
        title="charloom generation gateway",
        description="OpenAI-compatible completions from a charloom model served by TF Serving.",
        version="1",
    )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return _error(str(exc.detail), exc.status_code, "invalid_request_error")

    @app.get("/health", summary="the gateway is up (liveness)")
    async def health() -> Response:
        return Response(status_code=200)

    @app.get("/ready", summary="the gateway and its model server serve (readiness)")
    async def ready() -> Response:
        serving = await asyncio.to_thread(gateway.upstream.serving)
        if serving:
            return Response(status_code=200)
        return _error(
            f"the model server {gateway.config.target} is not serving",
            503,
            "server_error",
            "model_server_unavailable",
        )

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(generate_latest(gateway.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models", summary="the served model (OpenAI's list of models)")
    async def models(request: Request) -> Response:
        try:
            gateway.check_key(request.headers.get("authorization"))
        except GenerationError as exc:
            return _failure(exc)
        return _json(
            {
                "object": "list",
                "data": [
                    {
                        "id": gateway.config.model,
                        "object": "model",
                        "created": 0,
                        "owned_by": "charloom",
                    }
                ],
            }
        )

    @app.post(
        "/v1/completions",
        summary="complete one or more prompts (OpenAI's completions API)",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": CompletionRequest.model_json_schema()}},
            }
        },
    )
    async def completions(request: Request) -> Response:
        try:
            gateway.check_key(request.headers.get("authorization"))
            body = await _read_json(request, gateway.config.max_body_bytes)
            if isinstance(body, dict) and isinstance(body.get("model"), str):
                gateway.check_model(body["model"])
            parsed, spec = parse_completion(body, gateway.config)
            events = gateway.events(spec, streamed=bool(parsed.stream))
            start = await started(events)
        except _TooLarge as exc:
            return _error(str(exc), 413, "invalid_request_error", "request_too_large")
        except GenerationError as exc:
            return _failure(exc)
        head = {
            "id": None,
            "object": "text_completion",
            "created": int(time.time()),
            "model": gateway.config.model,
        }
        usage = {"prompt_tokens": start.prompt_tokens}
        if parsed.stream:
            include_usage = bool(parsed.stream_options and parsed.stream_options.include_usage)
            return StreamingResponse(
                _sse(events, head, spec, usage, include_usage, start.version),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        return await _whole(request, events, head, spec, usage, start.version)

    return app


async def _whole(request, events, head, spec, usage, version) -> Response:
    collected = ChoiceCollector(spec)
    watcher = asyncio.create_task(_until_disconnected(request))
    try:
        async for event in events:
            if isinstance(event, Failed):
                return _failure(event.error)
            if isinstance(event, Started):  # restarted on a new version: it starts over
                version, usage["prompt_tokens"] = event.version, event.prompt_tokens
            if isinstance(event, Finished):
                usage["completion_tokens"] = event.completion_tokens
                break
            if watcher.done():
                return Response(status_code=499)  # the client left: the job is cancelled
            collected.add(event)
    finally:
        watcher.cancel()
        await events.aclose()
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    choices = [
        {
            "index": c.index,
            "text": c.text,
            "logprobs": None if c.entries is None else openai_logprobs(c.entries, 0),
            "finish_reason": c.finish_reason,
        }
        for c in collected.choices()
    ]
    return _json(
        {
            **head,
            "id": spec.completion_id,
            "choices": choices,
            "usage": usage,
            "system_fingerprint": _fingerprint(version),
            "seed": spec.seed,
        }
    )


async def _sse(events, head, spec, usage, include_usage, version):
    """Server-sent events as OpenAI streams them: a chunk per piece of text, each choice's last
    with its finish_reason, the usage when asked, then ``data: [DONE]``."""
    head = {**head, "id": spec.completion_id, "system_fingerprint": _fingerprint(version)}
    offsets = TextOffsets(spec.rows)
    try:
        async for event in events:
            if isinstance(event, Failed):
                failure = classify(event.error)
                yield b"data: " + error_body(str(event.error), failure) + b"\n\n"
                break
            if isinstance(event, PromptScored):  # echo, which streams refuse
                continue
            if isinstance(event, Started):  # restarted on a new version before any chunk
                head["system_fingerprint"] = _fingerprint(event.version)
                usage["prompt_tokens"] = event.prompt_tokens
                continue
            if isinstance(event, Finished):
                if include_usage:
                    usage["completion_tokens"] = event.completion_tokens
                    usage["total_tokens"] = usage["prompt_tokens"] + event.completion_tokens
                    yield _event({**head, "choices": [], "usage": usage})
                break
            index = choice_index(event, spec.n)
            logprobs = None
            if spec.logprobs is not None:
                logprobs = openai_logprobs(event.logprobs, offsets.take(index, event.logprobs))
            yield _event(
                {
                    **head,
                    "choices": [
                        {
                            "index": index,
                            "text": event.text,
                            "logprobs": logprobs,
                            "finish_reason": event.finish_reason,
                        }
                    ],
                }
            )
        yield b"data: [DONE]\n\n"
    finally:
        await events.aclose()


class _TooLarge(Exception):
    pass


async def _read_json(request: Request, limit: int):
    """The body decoded as JSON, read no further than ``limit`` bytes; a FieldError on bad JSON
    (any: invalid UTF-8, a 5,000-digit number, nesting deeper than Python recurses)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge(f"the request body of {declared} bytes is larger than the limit of {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge(f"the request body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise FieldError("body", f"the request body is not valid JSON: {str(exc)[:200]}") from None
    except ValueError:  # json.loads' only other ValueError: Python's int-string limit
        raise FieldError(
            "body",
            f"the request body is not valid JSON: a number has more than "
            f"{sys.get_int_max_str_digits()} digits",
        ) from None


async def _until_disconnected(request: Request) -> None:
    while not await request.is_disconnected():
        await asyncio.sleep(DISCONNECT_POLL_SECONDS)


def _fingerprint(version: int | None) -> str:
    return f"charloom-v{version}" if version is not None else "charloom"


def _event(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=True).encode("ascii") + b"\n\n"


def _json(payload: dict, status: int = 200) -> Response:
    return Response(
        json.dumps(payload, ensure_ascii=True), status_code=status, media_type="application/json"
    )


def _failure(error: BaseException) -> Response:
    failure = classify(error)
    response = Response(
        error_body(str(error), failure, getattr(error, "param", None)),
        status_code=failure.http_status,
        media_type="application/json",
    )
    if failure.retry_after is not None:
        response.headers["Retry-After"] = str(failure.retry_after)
    return response


def _error(message: str, status: int, error_type: str, code: str | None = None) -> Response:
    body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    return _json(body, status)
