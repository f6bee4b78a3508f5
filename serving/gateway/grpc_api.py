"""The gateway's gRPC API (serving/gateway/proto/charloom_gateway.proto): unary ``Generate`` and
server-streaming ``GenerateStream``, the same fields, limits and errors as ``/v1/completions``
(serving/gateway/requests.py, serving/gateway/errors.py), plus the standard health service.
A stream whose client goes away cancels its job: its rows leave the batch at the next call."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from serving.client.errors import GenerationError
from serving.gateway.choices import ChoiceCollector, TextOffsets, choice_index
from serving.gateway.errors import classify
from serving.gateway.jobs import Failed, Finished, PromptScored, Started
from serving.gateway.proto import charloom_gateway_pb2 as pb
from serving.gateway.proto import charloom_gateway_pb2_grpc as pb_grpc
from serving.gateway.requests import parse_completion
from serving.gateway.service import Gateway, started

SERVICE_NAME = "charloom.gateway.v1.Generation"


class GenerationService(pb_grpc.GenerationServicer):
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def _start(
        self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext, streamed: bool
    ):
        metadata = dict(context.invocation_metadata() or ())
        self._gateway.check_key(metadata.get("authorization"))
        body = {
            "model": request.model or self._gateway.config.model,
            "prompt": list(request.prompt),
        }
        for name in OPTIONAL_FIELDS:
            if request.HasField(name):
                body[name] = getattr(request, name)
        if request.stop:
            body["stop"] = list(request.stop)
        if request.logit_bias:
            body["logit_bias"] = dict(request.logit_bias)
        if request.echo:
            body["echo"] = True
        self._gateway.check_model(body["model"])
        _, spec = parse_completion(body, self._gateway.config)
        events = self._gateway.events(spec, streamed)
        return spec, events, await started(events)

    async def Generate(self, request, context):  # noqa: N802 - gRPC's method name
        try:
            spec, events, start = await self._start(request, context, streamed=False)
        except GenerationError as exc:
            await _abort(context, exc)
        collected = ChoiceCollector(spec)
        try:
            async for event in events:
                if isinstance(event, Failed):
                    await _abort(context, event.error)
                if isinstance(event, Started):  # restarted on a new version: it starts over
                    start = event
                if isinstance(event, Finished):
                    completion = event.completion_tokens
                    break
                collected.add(event)
        finally:
            await events.aclose()
        return pb.GenerateResponse(
            id=spec.completion_id,
            model=self._gateway.config.model,
            model_version=start.version or 0,
            seed=spec.seed,
            choices=[
                pb.Choice(
                    index=c.index,
                    text=c.text,
                    finish_reason=c.finish_reason or "",
                    logprobs=_logprobs(c.entries or (), 0),
                )
                for c in collected.choices()
            ],
            usage=_usage(start.prompt_tokens, completion),
        )

    async def GenerateStream(self, request, context):  # noqa: N802 - gRPC's method name
        try:
            spec, events, start = await self._start(request, context, streamed=True)
        except GenerationError as exc:
            await _abort(context, exc)
        head = dict(id=spec.completion_id, model_version=start.version or 0, seed=spec.seed)
        offsets = TextOffsets(spec.rows)
        try:
            async for event in events:
                if isinstance(event, Failed):
                    await _abort(context, event.error)
                if isinstance(event, Started):  # restarted on a new version before any chunk
                    start = event
                    head["model_version"] = start.version or 0
                    continue
                if isinstance(event, Finished):
                    yield pb.GenerateChunk(
                        **head, usage=_usage(start.prompt_tokens, event.completion_tokens)
                    )
                    return
                if isinstance(event, PromptScored):  # echo, which streams refuse
                    continue
                index = choice_index(event, spec.n)
                yield pb.GenerateChunk(
                    **head,
                    index=index,
                    text=event.text,
                    finish_reason=event.finish_reason or "",
                    logprobs=_logprobs(event.logprobs, offsets.take(index, event.logprobs)),
                )
        finally:
            await events.aclose()


OPTIONAL_FIELDS = (
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "n",
    "seed",
    "min_p",
    "repetition_penalty",
    "frequency_penalty",
    "presence_penalty",
    "logprobs",
)


def _logprobs(entries, offset: int) -> list[pb.TokenLogprob]:
    out = []
    for entry in entries:
        out.append(
            pb.TokenLogprob(
                token=entry.token,
                logprob=entry.logprob,
                top=[pb.Alternative(token=t, logprob=v) for t, v in entry.top],
                text_offset=offset,
            )
        )
        offset += len(entry.token)
    return out


def _usage(prompt: int, completion: int) -> pb.Usage:
    return pb.Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


async def _abort(context: grpc.aio.ServicerContext, error: BaseException) -> None:
    failure = classify(error)
    if failure.retry_after is not None:
        context.set_trailing_metadata((("retry-after", str(failure.retry_after)),))
    await context.abort(failure.grpc_code, str(error))


def add_services(server: grpc.aio.Server, gateway: Gateway) -> health.aio.HealthServicer:
    pb_grpc.add_GenerationServicer_to_server(GenerationService(gateway), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    return health_servicer


SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
