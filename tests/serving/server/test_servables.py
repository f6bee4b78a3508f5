"""Version discovery and hot swap: a new version replaces the old one under load with zero failures."""

from __future__ import annotations

import os
import shutil
import threading

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving.server.config import (
    BatchingOptions,
    ModelConfig,
    VersionPolicy,
    parse_model_config_list,
)
from serving.tensors import from_tensor_proto, to_tensor_proto
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.slow

State = get_model_status_pb2.ModelVersionStatus.State


def step_request(name: str = "toy", token: int = 1) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.inputs["input_ids"].CopyFrom(to_tensor_proto(np.array([[token]], np.int32)))
    request.inputs["layer_0_h"].CopyFrom(to_tensor_proto(np.zeros((1, 3), np.float32)))
    return request


def statuses(channel, name="toy") -> dict[int, int]:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    response = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=10)
    return {s.version: s.state for s in response.model_version_status}


@pytest.mark.parametrize("batching", [False, True], ids=["unbatched", "batched"])
def test_hot_swap_under_concurrent_load_fails_no_request(
    start_server, model_base, toy_model_cache, batching
):
    base = model_base(1)
    handle = start_server(
        models=(ModelConfig("toy", base),),
        poll_wait_seconds=0.1,
        batching=BatchingOptions(enabled=batching, batch_timeout_micros=5000),
    )
    stop = threading.Event()
    seen: list[list[int]] = [[] for _ in range(4)]
    failures: list[BaseException] = []

    def hammer(index: int) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            while not stop.is_set():
                try:
                    response = stub.Predict(step_request(token=index), timeout=30)
                except grpc.RpcError as exc:
                    failures.append(exc)
                    continue
                version = response.model_spec.version.value
                logits = from_tensor_proto(response.outputs["logits"])
                if not np.allclose(logits, version):  # the answer must be that version's
                    failures.append(AssertionError(f"version {version} answered {logits}"))
                seen[index].append(version)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: all(len(s) >= 5 for s in seen), 60, "five answers to every caller")
        staged = base / ".incoming-2"  # not an integer: ignored by the poller until renamed
        shutil.copytree(toy_model_cache(2.0), staged)
        os.rename(staged, base / "2")
        shutil.rmtree(base / "1")
        wait_for(lambda: all(s and s[-1] == 2 for s in seen), 60, "version 2 answering everyone")
        counts = [len(s) for s in seen]
        wait_for(
            lambda: all(len(s) >= c + 5 for s, c in zip(seen, counts)), 60, "five more answers each"
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert failures == []
    if batching:
        assert (
            handle.metrics.registry.get_sample_value(
                ":tensorflow:serving:batching_session:processed_batch_size_count"
            )
            > 0
        )
    for versions in seen:
        assert versions[0] == 1 and versions[-1] == 2
        assert versions == sorted(
            versions
        )  # never back to the old version once the new one answered
    with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        wait_for(
            lambda: statuses(channel) == {1: State.END, 2: State.AVAILABLE}, 60, "version 1 ended"
        )


def test_broken_version_is_reported_and_the_old_one_keeps_serving(
    start_server, model_base, toy_model_cache
):
    base = model_base(1)
    handle = start_server(models=(ModelConfig("toy", base),), poll_wait_seconds=0.1)
    broken = base / "3"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"not a protobuf")
    with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "toy"
        request.model_spec.version.value = 3
        stub = model_service_pb2_grpc.ModelServiceStub(channel)

        def failed() -> bool:
            if 3 not in statuses(channel):
                return False  # not discovered yet
            reply = stub.GetModelStatus(request, timeout=10).model_version_status[0]
            return reply.state == State.END and bool(reply.status.error_message)

        wait_for(failed, 60, "version 3 reported as failed")
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            step_request(), timeout=10
        )
        assert response.model_spec.version.value == 1
        assert statuses(channel)[1] == State.AVAILABLE
        shutil.copytree(toy_model_cache(3.0), broken, dirs_exist_ok=True)  # repaired in place
        wait_for(
            lambda: statuses(channel) == {1: State.END, 3: State.AVAILABLE},
            60,
            "version 3 repaired",
        )


def test_version_policies_and_several_models_from_a_model_config_file(start_server, model_base):
    text = f"""
    model_config_list {{
      config {{ name: "all" base_path: "{model_base(1, 2, name="a")}" model_platform: "tensorflow"
               model_version_policy {{ all {{}} }} }}
      config {{ name: "pinned" base_path: "{model_base(1, 2, name="b")}"
               model_version_policy {{ specific {{ versions: 1 }} }} version_labels {{ key: "stable" value: 1 }} }}
      config {{ name: "latest" base_path: "{model_base(1, 2, name="c")}" }}
    }}"""
    models = parse_model_config_list(text)
    assert models[0].version_policy == VersionPolicy("all")
    handle = start_server(models=models)
    with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        assert statuses(channel, "all") == {1: State.AVAILABLE, 2: State.AVAILABLE}
        assert statuses(channel, "pinned") == {1: State.AVAILABLE}
        assert statuses(channel, "latest") == {2: State.AVAILABLE}
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        assert stub.Predict(step_request("all"), timeout=10).model_spec.version.value == 2
        request = step_request("all")
        request.model_spec.version.value = 1
        assert stub.Predict(request, timeout=10).model_spec.version.value == 1
        request = step_request("pinned")
        request.model_spec.version_label = "stable"
        assert stub.Predict(request, timeout=10).model_spec.version.value == 1


def test_health_turns_serving_when_the_first_version_appears(
    start_server, model_base, toy_model_cache, wait_for_health
):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    base = model_base()
    handle = start_server(models=(ModelConfig("toy", base),), poll_wait_seconds=0.1)
    with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "tensorflow.serving.PredictionService"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(grpc.RpcError) as caught:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                step_request(), timeout=5
            )
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        shutil.copytree(toy_model_cache(1.0), base / "1")
        wait_for_health(handle.port, timeout=30, service="tensorflow.serving.PredictionService")


def test_a_broken_latest_version_at_startup_falls_back_to_the_newest_that_loads(
    start_server, model_base, toy_model_cache, wait_for_health
):
    base = model_base(1, 2)
    for version in ("3", "4"):
        (base / version).mkdir()
        (base / version / "saved_model.pb").write_bytes(b"not a protobuf")
    (base / "²").mkdir()  # not an ASCII version number: ignored, not a crash of every poll
    (base / "²" / "saved_model.pb").write_bytes(b"")
    handle = start_server(models=(ModelConfig("toy", base),), poll_wait_seconds=0.1)
    wait_for_health(handle.port, timeout=30)
    with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        states = statuses(channel)
        assert states[2] == State.AVAILABLE and states[4] == State.END and 1 not in states
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            step_request(), timeout=10
        )
        assert response.model_spec.version.value == 2
        shutil.rmtree(base / "4")
        shutil.copytree(
            toy_model_cache(4.0), base / "4"
        )  # the latest is repaired: it replaces the fallback
        wait_for(
            lambda: (
                statuses(channel).get(4) == State.AVAILABLE
                and statuses(channel).get(2) == State.END
            ),
            60,
            "version 4 replacing the fallback",
        )
