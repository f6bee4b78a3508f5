import time

import pytest

from serving.client.errors import (
    DeadlineExceededError,
    RpcFailedError,
    SamplingArgumentError,
    ServerUnavailableError,
    UnknownCharactersError,
)
from serving.client.generator import GenerationClient, TextGenerator
from serving.client.grpc_backend import RetryPolicy

FAST_RETRY = RetryPolicy(max_attempts=4, initial_backoff=0.01, max_backoff=0.05)


def test_grpc_text_equals_in_process_text(fake_server, toy_gru_dir):
    target, servicer = fake_server
    options = dict(num_samples=2, max_new_tokens=40, temperature=0.8, top_k=30, seed=9, stop=["\n"])
    with GenerationClient(target, "toy", steps_per_call=1) as client:
        remote = client.generate(["ROMEO:", "KING:"], **options)
        assert client.backend.version == 1  # pinned from GetModelMetadata
    local = TextGenerator.from_saved_model(toy_gru_dir).generate(["ROMEO:", "KING:"], **options)
    assert [(r.text, r.finish_reason) for r in remote] == [(r.text, r.finish_reason) for r in local]
    assert servicer.metadata_calls == 1
    assert servicer.predict_calls[:2] == ["detokenize", "prefill"]
    assert set(servicer.predict_calls[2:]) == {"serving_default"}


def test_stream_over_grpc(fake_server):
    target, _ = fake_server
    with GenerationClient(target, "toy", steps_per_call=1) as client:
        chunks = list(client.stream("ROMEO:", max_new_tokens=20, seed=1))
        [result] = client.generate("ROMEO:", max_new_tokens=20, seed=1)
    assert "".join(c.text for c in chunks) == result.text and len(chunks) == 20


@pytest.mark.parametrize("kwargs", [{"temperature": -0.5}, {"top_p": 1.01}, {"top_k": -3}])
def test_bad_sampling_arguments_make_no_rpc(fake_server, kwargs):
    target, servicer = fake_server
    with GenerationClient(target, "toy") as client, pytest.raises(SamplingArgumentError):
        client.generate("ROMEO:", **kwargs)
    assert servicer.metadata_calls == 0 and servicer.predict_calls == []


def test_unknown_characters_make_no_predict_rpc_on_the_model(fake_server):
    target, servicer = fake_server
    with (
        GenerationClient(target, "toy") as client,
        pytest.raises(UnknownCharactersError, match=r"U\+00E9"),
    ):
        client.generate("Roméo:")
    assert servicer.predict_calls == ["detokenize"]  # vocabulary only; no prefill, no step


def test_retries_unavailable_with_backoff(fake_server):
    target, servicer = fake_server
    with GenerationClient(target, "toy", retry=FAST_RETRY, steps_per_call=1) as client:
        _ = client.vocabulary  # learn the model first
        servicer.predict_calls.clear()
        servicer.unavailable_remaining = 3  # the prefill fails three times, then succeeds
        [result] = client.generate("ROMEO:", max_new_tokens=5, seed=0)
    assert len(result.text) == 5
    assert servicer.predict_calls == ["prefill"] * 4 + ["serving_default"] * 4


def test_gives_up_after_max_attempts(fake_server):
    target, servicer = fake_server
    retry = RetryPolicy(max_attempts=2, initial_backoff=0.01, max_backoff=0.01)
    with GenerationClient(target, "toy", retry=retry) as client:
        _ = client.vocabulary
        servicer.predict_calls.clear()
        servicer.unavailable_remaining = 5
        with pytest.raises(ServerUnavailableError, match=r"Predict \(prefill\) to 127\.0\.0\.1"):
            client.generate("ROMEO:", max_new_tokens=5)
    assert servicer.predict_calls == ["prefill"] * 2


def test_no_retries_when_disabled(fake_server):
    target, servicer = fake_server
    with GenerationClient(target, "toy", retry=RetryPolicy(max_attempts=1)) as client:
        _ = client.vocabulary
        servicer.predict_calls.clear()
        servicer.unavailable_remaining = 1
        with pytest.raises(ServerUnavailableError):
            client.generate("ROMEO:", max_new_tokens=5)
    assert servicer.predict_calls == ["prefill"]


def test_deadline_expiry_is_a_clear_error(fake_server):
    target, servicer = fake_server
    # 0.8 s: the vocabulary's calls fit in it on a loaded machine (0.3 s did not always)
    with GenerationClient(target, "toy", timeout=0.8) as client:
        _ = client.vocabulary
        servicer.delay_seconds = 2.5
        start = time.monotonic()
        with pytest.raises(DeadlineExceededError) as info:
            client.generate("ROMEO:", max_new_tokens=5)
    assert time.monotonic() - start < 2.0  # cut short by the deadline, not the 2.5 s answer
    message = str(info.value)
    assert "Predict (prefill)" in message and target in message and "0.8s deadline" in message
    assert info.value.code_name == "DEADLINE_EXCEEDED"


def test_unreachable_server_fails_after_retries(unused_tcp_port):
    target = f"127.0.0.1:{unused_tcp_port}"
    with GenerationClient(target, "toy", timeout=5, retry=FAST_RETRY) as client:
        with pytest.raises(ServerUnavailableError, match="GetModelMetadata"):
            client.generate("ROMEO:")


def test_unknown_model_is_reported(fake_server):
    target, _ = fake_server
    with (
        GenerationClient(target, "nope") as client,
        pytest.raises(RpcFailedError, match="NOT_FOUND.*nope"),
    ):
        client.generate("ROMEO:")


def test_timeout_must_be_positive():
    with pytest.raises(SamplingArgumentError, match="timeout"):
        GenerationClient("127.0.0.1:1", "toy", timeout=0)


def test_wait_until_ready_falls_back_to_model_status_without_health_service():
    from concurrent import futures

    import grpc
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    from serving.client.errors import ServerNotReadyError

    class Models(model_service_pb2_grpc.ModelServiceServicer):
        calls = 0

        def GetModelStatus(self, request, context):
            Models.calls += 1
            state = (
                get_model_status_pb2.ModelVersionStatus.AVAILABLE
                if Models.calls >= 3
                else get_model_status_pb2.ModelVersionStatus.LOADING
            )
            return get_model_status_pb2.GetModelStatusResponse(
                model_version_status=[
                    get_model_status_pb2.ModelVersionStatus(version=1, state=state)
                ]
            )

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(Models(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with GenerationClient(f"127.0.0.1:{port}", "toy") as client:
            client.wait_until_ready(10)
            assert Models.calls == 3
            Models.calls = -(10**6)  # LOADING for ever now
            with pytest.raises(ServerNotReadyError, match="no AVAILABLE version"):
                client.wait_until_ready(0.6)
    finally:
        server.stop(grace=None)


@pytest.mark.slow  # seconds of waiting (or an export of its own): not the inner loop
def test_wait_until_ready_notices_a_server_that_starts_late(start_fake_server, unused_tcp_port):
    import threading

    late = threading.Timer(6.0, lambda: start_fake_server(port=unused_tcp_port))
    started = time.monotonic()
    late.start()
    try:
        with GenerationClient(f"127.0.0.1:{unused_tcp_port}", "toy") as client:
            client.wait_until_ready(30)
            waited = time.monotonic() - started
            assert len(client.generate("ROMEO:", max_new_tokens=3)[0].text) == 3
    finally:
        late.join()
    # Reconnect attempts at most 1 s apart; gRPC's defaults (1 s, x1.6, up to 120 s) would try
    # at about 1, 2.6, 5.2 and 9.3 s and notice the server only after about 9 s.
    assert 6.0 <= waited < 8.0


def test_one_client_shared_by_threads(fake_server):
    from concurrent.futures import ThreadPoolExecutor

    target, servicer = fake_server
    prompts = ["ROMEO:", "KING:", "JULIET:", "Hi", "A", "B"]
    with GenerationClient(target, "toy") as client:
        sequential = [
            client.generate(p, max_new_tokens=25, seed=i)[0].text for i, p in enumerate(prompts)
        ]
    with GenerationClient(target, "toy") as client, ThreadPoolExecutor(6) as pool:
        texts = list(
            pool.map(
                lambda ip: client.generate(ip[1], max_new_tokens=25, seed=ip[0])[0].text,
                enumerate(prompts),
            )
        )
    assert texts == sequential
    # One metadata call per text (each text starts on the latest version), the connection's own
    # serving the first text: 6 per client, so each client connected once although threads raced.
    assert servicer.metadata_calls == 12
