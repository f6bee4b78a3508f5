"""The gateway under load, on loopback with real servers: concurrent requests share model calls
yet each gets exactly its own text; a client that leaves frees its rows; a full queue is a 429;
a deploy under load fails nothing; a model server that goes away is a 503 until it is back;
API keys."""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
import requests

from serving import defaults
from serving.client.generator import GenerationClient
from serving.gateway.config import API_KEY_ENV, GatewayConfig
from serving.gateway.proto import charloom_gateway_pb2 as pb
from serving.gateway.proto import charloom_gateway_pb2_grpc as pb_grpc
from serving.gateway.server import start_gateway
from serving.server.config import RuntimeOptions, ServerConfig, single_model
from serving.server.model_server import start_server
from tests.helpers.waiting import wait_for
from tests.serving.gateway.conftest import k8s_batching

pytestmark = pytest.mark.slow

# A request that takes seconds, several times a deploy without warmup (version 1 is gone ~0.6 s
# after version 2 is copied here): a prompt prefilled in 188 calls, and one-step calls.
LONG_PROMPT_CHARS = 24_000
MID_REQUEST_TOKENS = 800
PROMPTS = ["ROMEO:", "JULIET:", "KING:", "A", "But soft", "What light", "O", "Z"]


def jobs(count: int) -> list[dict]:
    """Requests differing in prompt, length, n, temperature, top-k/top-p and seed."""
    out = []
    for i in range(count):
        out.append(
            {
                "model": "charloom",
                "prompt": PROMPTS[i % len(PROMPTS)],
                "max_tokens": 5 + (i * 7) % 60,
                "n": 1 + i % 3,
                "temperature": [0.0, 0.5, 0.9, 1.3][i % 4],
                "seed": 1000 + i,
                "top_k": [0, 10][i % 2],
                "top_p": [1.0, 0.8, 0.95][i % 3],
                **EXTRA_PARAMETERS[i % len(EXTRA_PARAMETERS)],
            }
        )
    return out


EXTRA_PARAMETERS = [  # the newer sampling parameters, in some rows of the shared calls
    {},
    {"frequency_penalty": 0.5, "logit_bias": {"e": 1.5}, "logprobs": 2},
    {"repetition_penalty": 1.2, "min_p": 0.05},
    {"presence_penalty": -0.5, "logprobs": 0},
    {},
]
CLIENT_NAMES = {"max_tokens": "max_new_tokens", "n": "num_samples"}


def expected_texts(target: str, job: dict) -> list[str]:
    options = {CLIENT_NAMES.get(k, k): v for k, v in job.items() if k not in ("model", "prompt")}
    with GenerationClient(target) as client:
        return [r.text for r in client.generate(job["prompt"], **options)]


def metric(gateway, name: str) -> float:
    for line in requests.get(gateway.http_url + "/metrics", timeout=30).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def version_2_export():
    """The run's one export of the version these tests deploy (another seed than version 1)."""
    from tests.helpers.toy_models import toy_export

    return toy_export(units=(16, 12), seed=1)


def deploy_version_2(base) -> None:
    from tests.helpers.export_cache import deploy_copy

    deploy_copy(version_2_export(), base)


@contextlib.contextmanager
def deployable(tmp_path, gateway_model, batching=None, warmup=True, **gateway_options):
    """A copy of the model's base path (export version 2 there to deploy it), a server polling
    it every 0.1 s and a gateway in front; both stopped after the block. Version 2's export is
    made first, so a deploy under the block's load is a copy, as an operator deploys.
    ``warmup=False``: versions load without replaying their warmup records (a deploy lands in
    a fraction of a second)."""
    version_2_export()
    base = tmp_path / "charloom"
    shutil.copytree(gateway_model, base)
    server = start_server(
        ServerConfig(
            models=(single_model("charloom", base),),
            port=0,
            host="127.0.0.1",
            poll_wait_seconds=0.1,
            runtime=RuntimeOptions(enable_model_warmup=warmup),
            **({"batching": batching} if batching else {}),
        )
    )
    gateway = start_gateway(
        GatewayConfig(
            target=f"127.0.0.1:{server.port}",
            host="127.0.0.1",
            port=0,
            grpc_port=None,
            **gateway_options,
        )
    )
    try:
        yield base, server, gateway
    finally:
        gateway.stop()
        server.stop(grace=0)


def test_32_concurrent_requests_get_exactly_their_sequential_texts(gateway, model_server):
    target = f"127.0.0.1:{model_server.port}"
    requests_ = jobs(32)
    calls_before = metric(gateway, "charloom:rows_per_model_call_count")
    barrier = threading.Barrier(len(requests_))

    def one(job: dict) -> list[str]:
        barrier.wait(timeout=60)
        if job["seed"] % 2:  # half of them streamed
            with requests.post(
                gateway.http_url + "/v1/completions",
                json={**job, "stream": True},
                stream=True,
                timeout=120,
            ) as reply:
                assert reply.status_code == 200, reply.text
                texts = [""] * job["n"]
                for line in reply.iter_lines():
                    if line and line != b"data: [DONE]":
                        choice = json.loads(line.removeprefix(b"data: "))["choices"][0]
                        texts[choice["index"]] += choice["text"]
                return texts
        reply = requests.post(gateway.http_url + "/v1/completions", json=job, timeout=120)
        assert reply.status_code == 200, reply.text
        return [c["text"] for c in reply.json()["choices"]]

    with ThreadPoolExecutor(len(requests_)) as pool:
        got = list(pool.map(one, requests_))
    calls = metric(gateway, "charloom:rows_per_model_call_count") - calls_before
    rows = sum(j["n"] for j in requests_)
    for job, texts in zip(requests_, got):
        assert texts == expected_texts(target, job), job
    # shared calls: far fewer model calls than each request's own loop would make
    own_loops = sum(
        j["n"] and 1 + -(-(j["max_tokens"] - 1) // defaults.STEPS_PER_CALL) for j in requests_
    )
    assert calls < own_loops / 2, (calls, own_loops, rows)


@pytest.fixture
def small_gateway(model_server):
    handles = []

    def make(**options):
        options = {
            "target": f"127.0.0.1:{model_server.port}",
            "host": "127.0.0.1",
            "port": 0,
            "grpc_port": 0,
            **options,
        }
        handle = start_gateway(GatewayConfig(**options))
        handles.append(handle)
        return handle

    yield make
    for handle in handles:
        handle.stop()


def test_a_client_that_leaves_frees_its_rows(small_gateway):
    gateway = small_gateway(steps_per_call=1)
    body = {"model": "charloom", "prompt": "A", "max_tokens": 4000, "stream": True, "seed": 1}
    with requests.post(
        gateway.http_url + "/v1/completions", json=body, stream=True, timeout=60
    ) as reply:
        lines = reply.iter_lines()
        next(lines)
        assert metric(gateway, "charloom:num_requests_running") == 1
        time.sleep(0.5)
        assert metric(gateway, "charloom:num_requests_running") == 1  # it runs while we listen
    wait_for(
        lambda: metric(gateway, 'charloom:request_success_total{finished_reason="abort"}') >= 1,
        30,
        "the abandoned request's rows to leave the batch",
        interval=0.1,
    )
    assert metric(gateway, "charloom:num_requests_running") == 0
    # a gRPC stream cancelled by its client leaves too
    with grpc.insecure_channel(gateway.grpc_target) as channel:
        stream = pb_grpc.GenerationStub(channel).GenerateStream(
            pb.GenerateRequest(prompt=["A"], max_tokens=4000), timeout=60
        )
        next(stream)
        stream.cancel()
    wait_for(
        lambda: metric(gateway, 'charloom:request_success_total{finished_reason="abort"}') >= 2,
        30,
        "the cancelled gRPC stream's rows to leave the batch",
        interval=0.1,
    )


def test_a_full_queue_is_429_with_retry_after(small_gateway):
    gateway = small_gateway(max_running_rows=1, max_n=1, max_waiting_requests=1, steps_per_call=1)
    long = {"model": "charloom", "prompt": "A", "max_tokens": 4000, "stream": True}
    with requests.post(
        gateway.http_url + "/v1/completions", json=long, stream=True, timeout=60
    ) as running:
        lines = running.iter_lines()  # held: a dropped iterator closes the connection
        next(lines)
        waiting = ThreadPoolExecutor(1).submit(
            requests.post,
            gateway.http_url + "/v1/completions",
            json={**long, "stream": False, "max_tokens": 5},
            timeout=120,
        )
        wait_for(
            lambda: metric(gateway, "charloom:num_requests_waiting") >= 1,
            30,
            "a waiting request",
            interval=0.05,
        )
        refused = requests.post(
            gateway.http_url + "/v1/completions",
            timeout=30,
            json={"model": "charloom", "prompt": "A", "max_tokens": 5},
        )
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
        assert refused.json()["error"]["type"] == "rate_limit_error"
        with grpc.insecure_channel(gateway.grpc_target) as channel:
            with pytest.raises(grpc.RpcError) as caught:
                pb_grpc.GenerationStub(channel).Generate(
                    pb.GenerateRequest(prompt=["A"]), timeout=30
                )
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert waiting.result().status_code == 200  # it ran once the long one's client left


def test_a_deploy_under_load_fails_no_request(tmp_path, gateway_model):
    stop = threading.Event()
    outcomes: list[tuple[int, int | None]] = []

    def load(i: int) -> None:
        while not stop.is_set():
            body = {
                "model": "charloom",
                "prompt": "ROMEO:",
                "max_tokens": 60,
                "seed": i,
                "stream": bool(i % 2),
            }
            reply = requests.post(gateway.http_url + "/v1/completions", json=body, timeout=120)
            version = None
            if reply.status_code == 200 and not body["stream"]:
                version = int(reply.json()["system_fingerprint"].removeprefix("charloom-v"))
            if reply.status_code == 200 and body["stream"]:
                assert reply.text.endswith("data: [DONE]\n\n") and '"error"' not in reply.text
            outcomes.append((reply.status_code, version))

    with deployable(tmp_path, gateway_model, k8s_batching()) as (base, server, gateway):
        try:
            with ThreadPoolExecutor(8) as pool:
                futures = [pool.submit(load, i) for i in range(8)]
                wait_for(lambda: len(outcomes) >= 8, 120, "the load's first replies")
                deploy_version_2(base)  # while the load runs
                wait_for(
                    lambda: server.manager.available_versions("charloom") == [2],
                    120,
                    "version 2 replacing version 1",
                )
                answered = len(outcomes)  # the load goes on: replies from version 2 too
                wait_for(lambda: (200, 2) in outcomes[answered:], 120, "a reply of version 2")
                stop.set()
                for future in futures:
                    future.result()
        finally:
            stop.set()
    assert outcomes and all(status == 200 for status, _ in outcomes), outcomes
    versions = {v for _, v in outcomes if v is not None}
    assert versions == {1, 2}, versions


def test_an_unreachable_model_server_is_503_then_recovers(tmp_path, gateway_model):
    from tests.helpers.ports import free_port

    port = free_port()
    gateway = start_gateway(
        GatewayConfig(target=f"127.0.0.1:{port}", host="127.0.0.1", port=0, grpc_port=0, timeout=5)
    )
    body = {"model": "charloom", "prompt": "A", "max_tokens": 5}
    try:
        reply = requests.post(gateway.http_url + "/v1/completions", json=body, timeout=60)
        assert reply.status_code == 503 and reply.headers["Retry-After"] == "1"
        assert "unavailable" in reply.json()["error"]["message"]
        assert requests.get(gateway.http_url + "/ready", timeout=30).status_code == 503
        with grpc.insecure_channel(gateway.grpc_target) as channel:
            with pytest.raises(grpc.RpcError) as caught:
                pb_grpc.GenerationStub(channel).Generate(
                    pb.GenerateRequest(prompt=["A"]), timeout=60
                )
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        server = start_server(
            ServerConfig(
                models=(single_model("charloom", gateway_model),), port=port, host="127.0.0.1"
            )
        )
        try:
            deadline = time.monotonic() + 60
            while (
                reply := requests.post(gateway.http_url + "/v1/completions", json=body, timeout=60)
            ).status_code != 200:
                assert reply.status_code == 503 and time.monotonic() < deadline
                time.sleep(0.5)
            assert requests.get(gateway.http_url + "/ready", timeout=30).status_code == 200
        finally:
            server.stop(grace=0)
    finally:
        gateway.stop()


def test_api_keys(small_gateway, tmp_path, monkeypatch):
    keys = tmp_path / "keys"
    keys.write_text("first-key\nsecond-key\n")
    gateway = small_gateway(api_key_file=keys)
    url = gateway.http_url + "/v1/completions"
    body = {"model": "charloom", "prompt": "A", "max_tokens": 2}
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic first-key"}):
        reply = requests.post(url, json=body, headers=headers, timeout=30)
        assert reply.status_code == 401 and reply.json()["error"]["code"] == "invalid_api_key"
    assert requests.get(gateway.http_url + "/v1/models", timeout=30).status_code == 401
    for key in ("first-key", "second-key"):
        assert (
            requests.post(
                url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
            ).status_code
            == 200
        )
    assert requests.get(gateway.http_url + "/health", timeout=30).status_code == 200
    with grpc.insecure_channel(gateway.grpc_target) as channel:
        stub = pb_grpc.GenerationStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Generate(pb.GenerateRequest(prompt=["A"], max_tokens=2), timeout=30)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        reply = stub.Generate(
            pb.GenerateRequest(prompt=["A"], max_tokens=2),
            timeout=30,
            metadata=(("authorization", "Bearer second-key"),),
        )
        assert len(reply.choices[0].text) == 2
    monkeypatch.setenv(API_KEY_ENV, "from-env")
    from_env = small_gateway()
    assert (
        requests.post(
            from_env.http_url + "/v1/completions",
            json=body,
            timeout=30,
            headers={"Authorization": "Bearer from-env"},
        ).status_code
        == 200
    )
    assert (
        requests.post(from_env.http_url + "/v1/completions", json=body, timeout=30).status_code
        == 401
    )


def test_a_version_unloaded_mid_request_restarts_or_continues_it(tmp_path, gateway_model):
    """A request whose version is unloaded mid-way: a plain one starts over on the new version
    (its text is exactly that version's for the seed), a stream that has sent text goes on there."""
    # 800 one-step calls: here version 1 is gone after ~170 of them (a fifth of the request)
    body = {"model": "charloom", "prompt": "ROMEO:", "max_tokens": MID_REQUEST_TOKENS, "seed": 3}
    deploying = deployable(tmp_path, gateway_model, warmup=False, steps_per_call=1)
    with deploying as (base, server, gateway):
        with (
            ThreadPoolExecutor(1) as pool,
            requests.post(
                gateway.http_url + "/v1/completions",
                json={**body, "stream": True},
                stream=True,
                timeout=120,
            ) as streamed,
        ):
            plain = pool.submit(
                requests.post, gateway.http_url + "/v1/completions", json=body, timeout=120
            )
            lines = streamed.iter_lines()
            next(lines)  # the stream has sent text
            deploy_version_2(base)
            stream_text = "".join(
                json.loads(line.removeprefix(b"data: "))["choices"][0]["text"]
                for line in lines
                if line.startswith(b"data: {")
            )
            reply = plain.result()
        assert 1 not in server.manager.available_versions("charloom"), "v1 was never unloaded"
        assert reply.status_code == 200, reply.text
        assert reply.json()["system_fingerprint"] == "charloom-v2"
        with GenerationClient(f"127.0.0.1:{server.port}", version=2) as client:
            [expected] = client.generate("ROMEO:", max_new_tokens=MID_REQUEST_TOKENS, seed=3)
        assert reply.json()["choices"][0]["text"] == expected.text
        assert len(stream_text) > MID_REQUEST_TOKENS * 3 // 4 and '"error"' not in stream_text


def test_a_version_unloaded_while_a_prompt_is_prefilled_moves_it(tmp_path, gateway_model):
    """The deploy lands while a long prompt is prefilled chunk by chunk: a plain request starts
    over on the new version; a stream that has sent text (its other prompt's) prefills the long
    prompt again there. Both texts are then exactly the new version's for the seed."""
    long_prompt = ("ROMEO: But soft, what light. " * 20000)[:LONG_PROMPT_CHARS]
    body = {"model": "charloom", "max_tokens": 20, "seed": 5}
    options = dict(max_prompt_chars=LONG_PROMPT_CHARS, warmup=False)
    with deployable(tmp_path, gateway_model, **options) as (base, server, gateway):
        with (
            ThreadPoolExecutor(1) as pool,
            requests.post(
                gateway.http_url + "/v1/completions",
                json={**body, "prompt": ["A", long_prompt], "stream": True},
                stream=True,
                timeout=300,
            ) as streamed,
        ):
            plain = pool.submit(
                requests.post,
                gateway.http_url + "/v1/completions",
                json={**body, "prompt": long_prompt},
                timeout=300,
            )
            texts = {0: "", 1: ""}
            events = (
                json.loads(line.removeprefix(b"data: "))
                for line in streamed.iter_lines()
                if line.startswith(b"data: {")
            )
            for event in events:
                assert "error" not in event, event
                texts[event["choices"][0]["index"]] += event["choices"][0]["text"]
                if event["choices"][0]["finish_reason"]:
                    break  # prompt 0's row finished: the stream has sent text
            deploy_version_2(base)
            for event in events:
                assert "error" not in event, event
                texts[event["choices"][0]["index"]] += event["choices"][0]["text"]
            reply = plain.result()
        assert 1 not in server.manager.available_versions("charloom"), "v1 was never unloaded"
        assert reply.status_code == 200, reply.text
        # v2: the plain request was still in flight (prefilling) when v1 went
        assert reply.json()["system_fingerprint"] == "charloom-v2"
        with GenerationClient(f"127.0.0.1:{server.port}", version=2) as client:
            [expected] = client.generate(long_prompt, max_new_tokens=20, seed=5)
        assert reply.json()["choices"][0]["text"] == expected.text
        assert texts[1] == expected.text
