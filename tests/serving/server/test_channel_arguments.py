"""`--grpc-channel-arguments` (TF Serving's --grpc_channel_arguments): parsed as TF Serving does
and applied to the gRPC server, e.g. a maximum connection age that makes long-lived clients
reconnect (and so spread over replicas added behind a Service)."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from serving.client import GenerationClient
from serving.errors import ServingError
from serving.server.config import ModelConfig, parse_channel_arguments


def test_pairs_are_parsed_with_integers_as_integers():
    assert parse_channel_arguments(
        "grpc.max_connection_age_ms=300000, grpc.lb_policy_name=round_robin,"
    ) == (("grpc.max_connection_age_ms", 300000), ("grpc.lb_policy_name", "round_robin"))
    assert parse_channel_arguments("") == ()
    # integers are ASCII digits (as absl::SimpleAtoi reads them); anything else stays a string
    assert parse_channel_arguments("a=-5,b=3²,c=٣") == (("a", -5), ("b", "3²"), ("c", "٣"))


@pytest.mark.parametrize("text", ["grpc.max_connection_age_ms", "=5", "grpc.x="])
def test_a_malformed_pair_is_named(text):
    with pytest.raises(ServingError, match=f"--grpc-channel-arguments: '{text}' is not key=value"):
        parse_channel_arguments(text)


def test_connections_older_than_the_maximum_age_are_closed_and_clients_reconnect(
    start_server, model_base
):
    handle = start_server(
        models=(ModelConfig("toy", model_base(1)),),
        grpc_channel_arguments=(
            ("grpc.max_connection_age_ms", 400),
            ("grpc.max_connection_age_grace_ms", 200),
        ),
    )
    went_idle = threading.Event()
    with GenerationClient(f"127.0.0.1:{handle.port}", "toy", steps_per_call=1) as client:
        client.wait_until_ready(30)
        client.channel.subscribe(
            lambda state: went_idle.set() if state == grpc.ChannelConnectivity.IDLE else None,
            try_to_connect=False,
        )
        first = client.generate("b", max_new_tokens=5, seed=0)[0].text
        assert went_idle.wait(10), "the server never closed the connection"
        time.sleep(0.1)
        assert client.generate("b", max_new_tokens=5, seed=0)[0].text == first  # a new connection


def test_without_a_maximum_age_the_connection_stays(start_server, model_base):
    handle = start_server(models=(ModelConfig("toy", model_base(1)),))
    states = []
    with GenerationClient(f"127.0.0.1:{handle.port}", "toy", steps_per_call=1) as client:
        client.wait_until_ready(30)
        client.generate("b", max_new_tokens=5, seed=0)
        client.channel.subscribe(states.append, try_to_connect=False)
        time.sleep(1.5)
    assert grpc.ChannelConnectivity.IDLE not in states, states
