"""Deploys never break long-lived clients, and a server crash does not lose a text.

- Swap under load: clients created before a deploy keep generating through two new versions
  (each text on one version, the next texts on the new one) over gRPC to a `charloom serve`
  process, with no failed text. (The in-process server under concurrent Predict load through a
  swap: tests/serving/server/test_servables.py.)
- A stream whose version is unloaded mid-text ends with a clear ModelVersionUnloadedError.
- kill -9 of the server mid-stream: once it is back, the stream completes with the same text as
  an uninterrupted one.
"""

from __future__ import annotations

import threading

import pytest

from serving.client import GenerationClient
from serving.client.errors import ModelVersionUnloadedError
from serving.server.config import ServerConfig, single_model
from serving.server.model_server import start_server
from tests.helpers.export_cache import deploy_copy
from tests.helpers.toy_models import SERVER_CHARS, toy_export
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.e2e
PROMPT = "abc"
TEXT_TOKENS = 60  # 15 calls of 4 steps: several texts of each client overlap each deploy


def version_export(stamp: float):
    """The run's one export of the toy version ``stamp`` (its logits all equal ``stamp``)."""
    return toy_export(units=(16,), chars=SERVER_CHARS, seed=int(stamp), stamp=stamp)


def export_version(base, stamp: float):
    return deploy_copy(version_export(stamp), base)


def served_version(client: GenerationClient) -> int:
    return client.generate(PROMPT, max_new_tokens=1)[0].model_version


def hammer_through_deploys(target: str, base, wait_for_version) -> None:
    """Four long-lived clients generate while versions 2 and 3 are deployed; none fails."""
    for stamp in (2, 3):  # exported before the load, deployed under it (as an operator deploys)
        version_export(float(stamp))
    clients = [GenerationClient(target, "charloom", steps_per_call=4) for _ in range(4)]
    stop = threading.Event()
    versions: list[list[int]] = [[] for _ in clients]
    errors: list[BaseException] = []

    def generate(index: int) -> None:
        client = clients[index]
        seed = 0
        while not stop.is_set():
            try:
                [result] = client.generate(PROMPT, max_new_tokens=TEXT_TOKENS, seed=seed)
            except BaseException as exc:  # noqa: BLE001 - every failure is the test's finding
                errors.append(exc)
                return
            assert len(result.text) == TEXT_TOKENS
            versions[index].append(result.model_version)
            seed += 1

    def until_every_client(has, what: str) -> None:  # a failed text ends the wait at once
        wait_for(lambda: errors or all(has(seen) for seen in versions), 120, f"every client {what}")
        assert not errors, f"{len(errors)} texts failed, first: {errors[0]!r}"

    threads = [threading.Thread(target=generate, args=(i,)) for i in range(len(clients))]
    try:
        for thread in threads:
            thread.start()
        until_every_client(len, "finished a text")
        for stamp in (2, 3):
            export_version(base, float(stamp))
            wait_for_version(stamp)
            # the load goes on: each client finishes a text on the new version
            until_every_client(
                lambda seen, stamp=stamp: seen[-1] == stamp, f"generated on version {stamp}"
            )
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        stop.set()
        for client in clients:
            client.close()
    assert not errors, f"{len(errors)} texts failed, first: {errors[0]!r}"
    for seen in versions:
        assert seen and seen[-1] == 3, f"a client did not follow the deploys: {seen}"
        assert seen == sorted(seen)  # texts move forward with the deploys, never back


def test_swap_under_load_over_grpc_to_a_server_process(serve_toy):
    server = serve_toy(batching=True, copy=True, args=["--file-system-poll-wait-seconds", "0.1"])
    base = server.base_path
    probe = GenerationClient(server.target, "charloom")

    def wait_for_version(version: int) -> None:
        wait_for(lambda: served_version(probe) == version, 60, f"version {version} served")

    try:
        hammer_through_deploys(server.target, base, wait_for_version)
    finally:
        probe.close()


def test_a_stream_cut_by_an_unload_ends_with_a_clear_error(tmp_path):
    base = tmp_path / "charloom"
    export_version(base, 1.0)
    config = ServerConfig(
        models=(single_model("charloom", base),), port=0, host="127.0.0.1", poll_wait_seconds=0.1
    )
    with (
        start_server(config) as handle,
        GenerationClient(f"127.0.0.1:{handle.port}", "charloom", steps_per_call=1) as client,
    ):
        chunks = client.stream(PROMPT, max_new_tokens=500, seed=1)
        next(chunks)
        export_version(base, 2.0)
        wait_for(
            lambda: handle.manager.available_versions("charloom") == [2],
            60,
            "version 2 replacing version 1",
            interval=0.05,
        )
        with pytest.raises(ModelVersionUnloadedError, match="version 1 is no longer served"):
            for _ in chunks:
                pass
        assert (
            client.generate(PROMPT, max_new_tokens=3)[0].model_version == 2
        )  # the next text follows


def test_a_stream_survives_kill_9_of_the_server(serve_toy):
    server = serve_toy(copy=True)
    with GenerationClient(server.target, "charloom", steps_per_call=1) as client:
        expected = client.generate(PROMPT, max_new_tokens=300, seed=7)[0].text
        chunks = client.stream(PROMPT, max_new_tokens=300, seed=7)
        got = [next(chunks).text for _ in range(20)]
        server.kill()
        restarter = threading.Timer(2.0, server.restart)  # back after the client has seen it gone
        restarter.start()
        try:
            got += [chunk.text for chunk in chunks]
        finally:
            restarter.join()
    assert "".join(got) == expected
    assert server.alive()
