"""Client-side load balancing: with round_robin one long-lived client spreads its calls over every
address of its target (in Kubernetes: every pod behind a headless Service, via dns:///)."""

from __future__ import annotations

import pytest

from serving.client import GenerationClient
from serving.client.errors import GenerationError
from serving.server.config import ModelConfig
from serving.server.metrics import REQUEST_COUNT


def predicts(handle) -> float:
    return (
        handle.metrics.registry.get_sample_value(
            REQUEST_COUNT, {"model_name": "toy", "status": "OK"}
        )
        or 0
    )


@pytest.mark.parametrize("policy, spread", [("round_robin", True), ("pick_first", False)])
def test_round_robin_spreads_one_clients_calls_over_every_address(
    start_server, model_base, policy, spread
):
    base = model_base(1)
    servers = [start_server(models=(ModelConfig("toy", base),)) for _ in range(2)]
    target = "ipv4:" + ",".join(f"127.0.0.1:{s.port}" for s in servers)  # one name, two addresses
    with GenerationClient(target, "toy", load_balancing=policy, steps_per_call=1) as client:
        client.wait_until_ready(30)
        client.generate("b", max_new_tokens=40, seed=0)
    counts = [predicts(s) for s in servers]
    assert sum(counts) > 40
    if spread:
        assert min(counts) > sum(counts) / 4, counts
    else:
        assert min(counts) == 0, counts


def test_an_unknown_policy_is_a_clear_error():
    with pytest.raises(
        GenerationError, match="load_balancing must be one of pick_first, round_robin"
    ):
        _ = GenerationClient("localhost:1", load_balancing="least_request").channel
