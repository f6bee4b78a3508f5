"""The OpenAI-compatible HTTP API against a real gateway and model server on loopback: the
`openai` package (plain and streamed), raw HTTP (SSE framing, error bodies, unsupported and
unknown fields, hostile JSON, limits), and texts equal to `charloom generate`'s for the seed."""

from __future__ import annotations

import json
import socket

import openai
import pytest
import requests

from serving.client.generator import GenerationClient


def client_texts(model_server, prompt, **options) -> list[str]:
    """What `charloom generate` (the gRPC client, straight to the model server) returns."""
    with GenerationClient(f"127.0.0.1:{model_server.port}") as client:
        return [r.text for r in client.generate(prompt, **options)]


def test_openai_package_plain_and_streamed(gateway, model_server):
    api = openai.OpenAI(base_url=gateway.http_url + "/v1", api_key="unused", max_retries=0)
    [model] = api.models.list().data
    assert model.id == "charloom"
    completion = api.completions.create(
        model="charloom", prompt="ROMEO:", max_tokens=30, temperature=0.8, seed=7, n=2
    )
    expected = client_texts(
        model_server, "ROMEO:", max_new_tokens=30, temperature=0.8, seed=7, num_samples=2
    )
    assert [c.text for c in completion.choices] == expected
    assert [c.finish_reason for c in completion.choices] == ["length", "length"]
    assert completion.usage.prompt_tokens == 6 and completion.usage.completion_tokens == 60
    assert completion.usage.total_tokens == 66
    stream = api.completions.create(
        model="charloom",
        prompt="ROMEO:",
        max_tokens=30,
        temperature=0.8,
        seed=7,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == expected[0]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage.completion_tokens == 30 and chunks[-1].choices == []


def test_openai_package_reads_logprobs_and_the_penalties_apply(gateway, model_server):
    api = openai.OpenAI(base_url=gateway.http_url + "/v1", api_key="unused", max_retries=0)
    options = dict(max_tokens=25, temperature=0.9, seed=5)
    penalties = dict(frequency_penalty=0.8, presence_penalty=-0.4, logit_bias={"e": 3.0})
    vllm = dict(repetition_penalty=1.2, min_p=0.02)
    completion = api.completions.create(
        model="charloom", prompt="KING:", logprobs=3, **options, **penalties, extra_body=vllm
    )
    with GenerationClient(f"127.0.0.1:{model_server.port}") as client:
        [expected] = client.generate(
            "KING:", max_new_tokens=25, temperature=0.9, seed=5, logprobs=3, **penalties, **vllm
        )
    choice = completion.choices[0]
    assert choice.text == expected.text
    logprobs = choice.logprobs
    assert logprobs.tokens == [e.token for e in expected.logprobs]
    assert logprobs.token_logprobs == pytest.approx(
        [e.logprob for e in expected.logprobs], abs=1e-6
    )
    assert logprobs.top_logprobs[0] == pytest.approx(dict(expected.logprobs[0].top), abs=1e-6)
    assert logprobs.text_offset == list(range(25))
    stream = api.completions.create(
        model="charloom",
        prompt="KING:",
        logprobs=3,
        stream=True,
        **options,
        **penalties,
        extra_body=vllm,
    )
    pieces = [c.choices[0].logprobs for c in stream if c.choices]
    assert sum((p.tokens for p in pieces), []) == logprobs.tokens
    assert sum((p.text_offset for p in pieces), []) == logprobs.text_offset
    echoed = api.completions.create(
        model="charloom", prompt="KING:", logprobs=1, echo=True, **options
    )
    [scored] = client_scores(model_server, "KING:")
    echo = echoed.choices[0]
    assert echo.text.startswith("KING:") and echo.logprobs.tokens[:5] == list("KING:")
    assert echo.logprobs.token_logprobs[0] is None and echo.logprobs.top_logprobs[0] is None
    assert echo.logprobs.token_logprobs[1:5] == pytest.approx(list(scored.logprobs[1:]), abs=1e-5)
    assert echo.logprobs.text_offset[5] == 5


def client_scores(model_server, *texts):
    with GenerationClient(f"127.0.0.1:{model_server.port}") as client:
        return client.score(list(texts))


def test_stop_strings_and_lists_of_prompts(gateway, model_server):
    options = dict(max_new_tokens=40, temperature=0.9, seed=11, stop=["e", "QQ"])
    reply = requests.post(
        gateway.http_url + "/v1/completions",
        timeout=60,
        json={
            "model": "charloom",
            "prompt": ["JULIET:", "KING:"],
            "max_tokens": 40,
            "temperature": 0.9,
            "seed": 11,
            "stop": ["e", "QQ"],
            "top_k": 20,
            "top_p": 0.9,
        },
    ).json()
    expected = [
        t
        for p in ("JULIET:", "KING:")
        for t in client_texts(model_server, p, top_k=20, top_p=0.9, **options)
    ]
    assert [c["text"] for c in reply["choices"]] == expected
    assert [c["index"] for c in reply["choices"]] == [0, 1]
    assert all("e" not in c["text"] for c in reply["choices"])


def test_sse_framing(gateway):
    with requests.post(
        gateway.http_url + "/v1/completions",
        timeout=60,
        stream=True,
        json={
            "model": "charloom",
            "prompt": "A",
            "max_tokens": 20,
            "seed": 1,
            "stream": True,
        },
    ) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        raw = reply.raw.read().decode()
    events = raw.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    payloads = [json.loads(e.removeprefix("data: ")) for e in events[:-2]]
    assert all(e.startswith("data: ") for e in events[:-1])
    assert all(p["object"] == "text_completion" for p in payloads)
    assert sum(len(p["choices"][0]["text"]) for p in payloads) == 20
    assert payloads[-1]["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(
    "body, status, param, message",
    [
        ({"model": "nope", "prompt": "A"}, 404, None, "The model `nope` does not exist"),
        ({"model": "charloom", "prompt": "A", "logprobs": 21}, 400, "logprobs", "[0, 20]"),
        ({"model": "charloom", "prompt": "A", "best_of": 2}, 400, "best_of", "not supported"),
        (
            {"model": "charloom", "prompt": "A", "echo": True, "stream": True},
            400,
            "echo",
            "without stream only",
        ),
        (
            {"model": "charloom", "prompt": "A", "presence_penalty": 3},
            400,
            "presence_penalty",
            "[-2, 2]",
        ),
        (
            {"model": "charloom", "prompt": "A", "frequency_penalty": "x"},
            400,
            "frequency_penalty",
            "",
        ),
        (
            {"model": "charloom", "prompt": "A", "repetition_penalty": 0},
            400,
            "repetition_penalty",
            "(0, 100]",
        ),
        ({"model": "charloom", "prompt": "A", "min_p": 2}, 400, "min_p", "[0, 1]"),
        (
            {"model": "charloom", "prompt": "A", "logit_bias": {"a": 200}},
            400,
            "logit_bias",
            "[-100, 100]",
        ),
        (
            {"model": "charloom", "prompt": "A", "logit_bias": {"é": 1}},
            400,
            None,
            "logit_bias key 'é' is not a token of the model's vocabulary",
        ),
        ({"model": "charloom", "prompt": "A", "suffix": "x"}, 400, "suffix", "not supported"),
        (
            {"model": "charloom", "prompt": "A", "frobnicate": 1},
            400,
            "frobnicate",
            "not a field of /v1/completions",
        ),
        ({"model": "charloom", "prompt": "A", "max_tokens": 0}, 400, "max_tokens", "[1, 4096]"),
        ({"model": "charloom", "prompt": "A", "max_tokens": 10**9}, 400, "max_tokens", "[1, 4096]"),
        ({"model": "charloom", "prompt": "A", "n": 17}, 400, "n", "[1, 16]"),
        ({"model": "charloom", "prompt": "A", "temperature": -1}, 400, "temperature", ">= 0"),
        ({"model": "charloom", "prompt": "A", "top_p": 0}, 400, "top_p", "(0, 1]"),
        ({"model": "charloom", "prompt": "A", "top_k": -2}, 400, "top_k", "top_k must be"),
        ({"model": "charloom", "prompt": "A", "seed": -1}, 400, "seed", "seed must be"),
        (
            {"model": "charloom", "prompt": "A", "stop": ["a", "b", "c", "d", "e"]},
            400,
            "stop",
            "at most 4",
        ),
        ({"model": "charloom", "prompt": ""}, 400, "prompt", "must not be empty"),
        ({"model": "charloom", "prompt": [1, 2]}, 400, "prompt", "prompt"),
        (
            {"model": "charloom", "prompt": "A" * 5000},
            400,
            "prompt",
            "longer than this gateway's limit",
        ),
        ({"model": "charloom", "prompt": "é\ud800"}, 400, None, "not in the model's vocabulary"),
        ({"prompt": "A"}, 400, "model", "model"),
        (
            {"model": "charloom", "prompt": "A", "stream_options": {"include_usage": True}},
            400,
            "stream_options",
            "needs stream",
        ),
    ],
)
def test_client_mistakes_are_openai_errors(gateway, body, status, param, message):
    reply = requests.post(gateway.http_url + "/v1/completions", json=body, timeout=30)
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert message in error["message"] and error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param


def test_neutral_values_are_accepted(gateway):
    """What SDKs send by default (LangChain's presence_penalty 0, best_of 1) is accepted."""
    reply = requests.post(
        gateway.http_url + "/v1/completions",
        timeout=30,
        json={
            "model": "charloom",
            "prompt": "A",
            "max_tokens": 3,
            "presence_penalty": 0,
            "frequency_penalty": 0.0,
            "logit_bias": {},
            "best_of": 1,
            "echo": False,
            "logprobs": None,
            "user": None,
            "suffix": None,
        },
    )
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[1, 2]",
        b'{"model": "charloom", "prompt": "A", "max_tokens": ' + b"9" * 5000 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"model": "charloom", "prompt": "\xff\xfe"}',
        b'{"model": "charloom", "prompt": "A", "max_tokens": 1e400}',
        b'{"model": "charloom", "prompt": {"b": [1, {"c": null}]}}',
    ],
)
def test_hostile_json_is_a_400(gateway, raw):
    reply = requests.post(
        gateway.http_url + "/v1/completions",
        data=raw,
        timeout=30,
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["type"] == "invalid_request_error"
    assert "set_int_max_str_digits" not in reply.text  # no Python internals in the answer


def test_a_body_over_the_limit_is_413_before_it_is_read(gateway):
    body = json.dumps({"model": "charloom", "prompt": "A" * 2_000_000}).encode()
    reply = requests.post(gateway.http_url + "/v1/completions", data=body, timeout=30)
    assert reply.status_code == 413 and "limit" in reply.json()["error"]["message"]


def test_openapi_schema_is_published(gateway):
    schema = requests.get(gateway.http_url + "/openapi.json", timeout=30).json()
    body = schema["paths"]["/v1/completions"]["post"]["requestBody"]["content"]["application/json"]
    assert {"prompt", "max_tokens", "top_k", "stream", "seed"} <= set(body["schema"]["properties"])


def test_metrics_and_probes(gateway):
    requests.post(
        gateway.http_url + "/v1/completions",
        timeout=30,
        json={"model": "charloom", "prompt": "A", "max_tokens": 5},
    )
    text = requests.get(gateway.http_url + "/metrics", timeout=30).text
    for name in (
        "charloom:time_to_first_token_seconds_bucket",
        "charloom:generation_tokens_total",
        "charloom:num_requests_running",
        "charloom:num_requests_waiting",
        "charloom:rows_per_model_call_bucket",
        "charloom:inter_token_latency_seconds",
        'charloom:request_success_total{finished_reason="length"}',
    ):
        assert name in text, name
    assert requests.get(gateway.http_url + "/health", timeout=30).status_code == 200
    assert requests.get(gateway.http_url + "/ready", timeout=30).status_code == 200


def test_a_malformed_request_line_does_not_disturb_the_server(gateway):
    with socket.create_connection(("127.0.0.1", gateway.ports.http), timeout=10) as sock:
        sock.sendall(b"GARBAGE \x00\x01 HTTP/9\r\n\r\n")
        sock.recv(1024)
    assert requests.get(gateway.http_url + "/health", timeout=30).status_code == 200
