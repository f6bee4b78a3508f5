"""The gateway's gRPC API through its generated stubs: unary and streamed texts equal the
client's, errors carry gRPC's codes, and the standard health service answers."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from serving.client.generator import GenerationClient
from serving.gateway.proto import charloom_gateway_pb2 as pb
from serving.gateway.proto import charloom_gateway_pb2_grpc as pb_grpc


@pytest.fixture(scope="module")
def stub(gateway):
    with grpc.insecure_channel(gateway.grpc_target) as channel:
        yield pb_grpc.GenerationStub(channel), channel


def test_unary_and_stream_equal_the_client(stub, model_server):
    generation, _ = stub
    request = pb.GenerateRequest(
        model="charloom",
        prompt=["ROMEO:", "JULIET:"],
        max_tokens=25,
        temperature=0.7,
        top_k=30,
        n=2,
        seed=5,
        stop=["zz"],
    )
    with GenerationClient(f"127.0.0.1:{model_server.port}") as client:
        expected = [
            r.text
            for r in client.generate(
                ["ROMEO:", "JULIET:"],
                max_new_tokens=25,
                temperature=0.7,
                top_k=30,
                num_samples=2,
                seed=5,
                stop=["zz"],
            )
        ]
    reply = generation.Generate(request, timeout=60)
    assert [c.text for c in reply.choices] == expected
    assert [c.index for c in reply.choices] == [0, 1, 2, 3]
    assert reply.seed == 5 and reply.model_version == 1
    assert (
        reply.usage.prompt_tokens == 13
        and reply.usage.completion_tokens
        == sum(len(t) for t in expected) + sum(c.finish_reason == "stop" for c in reply.choices) * 2
    )
    streamed = ["", "", "", ""]
    finished = {}
    chunks = list(generation.GenerateStream(request, timeout=60))
    for chunk in chunks[:-1]:
        streamed[chunk.index] += chunk.text
        if chunk.finish_reason:
            finished[chunk.index] = chunk.finish_reason
    assert streamed == expected and len(finished) == 4
    assert chunks[-1].usage.total_tokens == reply.usage.total_tokens


def test_errors_carry_grpc_codes(stub):
    generation, _ = stub
    cases = [
        (pb.GenerateRequest(model="nope", prompt=["A"]), grpc.StatusCode.NOT_FOUND),
        (pb.GenerateRequest(prompt=[]), grpc.StatusCode.INVALID_ARGUMENT),
        (pb.GenerateRequest(prompt=["A"], max_tokens=0), grpc.StatusCode.INVALID_ARGUMENT),
        (
            pb.GenerateRequest(prompt=["A"], temperature=float("nan")),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (pb.GenerateRequest(prompt=["€"]), grpc.StatusCode.INVALID_ARGUMENT),
    ]
    for request, code in cases:
        for call in (
            generation.Generate,
            lambda r, timeout: list(generation.GenerateStream(r, timeout=timeout)),
        ):
            with pytest.raises(grpc.RpcError) as caught:
                call(request, timeout=30)
            assert caught.value.code() == code, (request, caught.value.details())


def test_health_service(stub):
    _, channel = stub
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "charloom.gateway.v1.Generation"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
