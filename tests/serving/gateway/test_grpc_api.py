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


def test_logprobs_penalties_and_echo_over_grpc(stub, model_server):
    generation, _ = stub
    options = dict(max_tokens=20, temperature=0.8, seed=9)
    request = pb.GenerateRequest(
        model="charloom",
        prompt=["KING:"],
        logprobs=2,
        frequency_penalty=1.0,
        repetition_penalty=1.5,
        min_p=0.01,
        logit_bias={"a": -100.0},
        **options,
    )
    with GenerationClient(f"127.0.0.1:{model_server.port}") as client:
        [expected] = client.generate(
            "KING:",
            max_new_tokens=20,
            temperature=0.8,
            seed=9,
            logprobs=2,
            frequency_penalty=1.0,
            repetition_penalty=1.5,
            min_p=0.01,
            logit_bias={"a": -100.0},
        )
    [choice] = generation.Generate(request, timeout=60).choices
    assert choice.text == expected.text and "a" not in choice.text
    assert [e.token for e in choice.logprobs] == [e.token for e in expected.logprobs]
    assert [e.logprob for e in choice.logprobs] == pytest.approx(
        [e.logprob for e in expected.logprobs], abs=1e-6
    )
    top = choice.logprobs[0].top
    assert [a.token for a in top] == [t for t, _ in expected.logprobs[0].top]
    assert [a.logprob for a in top] == pytest.approx([v for _, v in expected.logprobs[0].top])
    chunks = list(generation.GenerateStream(request, timeout=60))
    streamed = [e for c in chunks for e in c.logprobs]
    assert [e.text_offset for e in streamed] == list(range(20))
    request.echo, request.logprobs = True, 0
    [echoed] = generation.Generate(request, timeout=60).choices
    assert echoed.text.startswith("KING:") and not echoed.logprobs[0].HasField("logprob")
    with pytest.raises(grpc.RpcError) as caught:
        generation.Generate(pb.GenerateRequest(prompt=["A"], logprobs=25), timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "logprobs must be an integer in [0, 20]" in caught.value.details()
