"""A toy model served by an in-process `charloom serve` with TF Serving's batching rules, and a
gateway in front of it; both on loopback, stopped after the module."""

from __future__ import annotations

import pytest

from serving import defaults
from serving.gateway.config import GatewayConfig
from serving.gateway.server import start_gateway
from serving.server.config import BatchingOptions, ServerConfig, single_model
from serving.server.model_server import start_server


@pytest.fixture(scope="session")
def gateway_model(tmp_path_factory):
    """A base path with version 1 of a sharpened toy GRU over CLIENT_CHARS."""
    from tests.helpers.toy_models import export_toy_model

    base = tmp_path_factory.mktemp("gateway") / "charloom"
    export_toy_model(base, units=(16, 12))
    return base


def k8s_batching() -> BatchingOptions:
    """k8s/'s batching file: what TF Serving runs in production."""
    return BatchingOptions(
        enabled=True,
        max_batch_size=defaults.MAX_BATCH_SIZE,
        batch_timeout_micros=defaults.BATCH_TIMEOUT_MICROS,
        num_batch_threads=defaults.NUM_BATCH_THREADS,
        max_enqueued_batches=defaults.MAX_ENQUEUED_BATCHES,
    )


@pytest.fixture(scope="module")
def model_server(gateway_model):
    handle = start_server(
        ServerConfig(
            models=(single_model(defaults.MODEL_NAME, gateway_model),),
            port=0,
            host="127.0.0.1",
            poll_wait_seconds=0.2,
            batching=k8s_batching(),
        )
    )
    yield handle
    handle.stop(grace=0)


@pytest.fixture(scope="module")
def gateway(model_server):
    handle = start_gateway(
        GatewayConfig(
            target=f"127.0.0.1:{model_server.port}",
            host="127.0.0.1",
            port=0,
            grpc_port=0,
        )
    )
    yield handle
    handle.stop()
