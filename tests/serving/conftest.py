"""Serving test fixtures: tiny SavedModels with charloom's signature contract, and running servers.

The toy model is deterministic and version-stamped (every logit of version v equals v plus the
input id), so a test can tell which version answered without trusting the response's model_spec.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Callable, Iterator

import grpc
import pytest

VOCAB = 5
UNITS = 3


def build_toy_saved_model(path: Path, version_value: float) -> Path:
    """A one-layer 'GRU-shaped' model: step, prefill, tokenize and detokenize signatures."""
    import tensorflow as tf

    class Toy(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bias = tf.Variable(tf.fill([VOCAB], float(version_value)))

        @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.int32, name="input_ids"),
                                      tf.TensorSpec([None, UNITS], tf.float32, name="layer_0_h")])
        def step(self, input_ids, layer_0_h):
            tf.debugging.assert_less(input_ids, VOCAB, message="input id out of range")
            ids = tf.cast(input_ids, tf.float32)  # [B, 1]
            logits = self.bias[None, :] + ids
            return {"logits": logits, "layer_0_h": layer_0_h + ids}

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="input_ids"),
                                      tf.TensorSpec([None], tf.int32, name="lengths"),
                                      tf.TensorSpec([None, UNITS], tf.float32, name="layer_0_h")])
        def prefill(self, input_ids, lengths, layer_0_h):
            total = tf.reduce_sum(tf.cast(input_ids, tf.float32), axis=1, keepdims=True)
            return {"logits": self.bias[None, :] + total + tf.cast(lengths, tf.float32)[:, None],
                    "layer_0_h": layer_0_h + total}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def tokenize(self, text):
            codes = tf.strings.unicode_decode(text, "UTF-8")
            return {"input_ids": tf.cast(codes.to_tensor(), tf.int32),
                    "lengths": tf.cast(codes.row_lengths(), tf.int32)}

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="input_ids")])
        def detokenize(self, input_ids):
            return {"text": tf.strings.unicode_encode(input_ids, "UTF-8")}

    module = Toy()
    tf.saved_model.save(module, str(path), signatures={
        "serving_default": module.step.get_concrete_function(),
        "prefill": module.prefill.get_concrete_function(),
        "tokenize": module.tokenize.get_concrete_function(),
        "detokenize": module.detokenize.get_concrete_function()})
    return path


@pytest.fixture(scope="session")
def toy_model_cache(tmp_path_factory: pytest.TempPathFactory) -> Callable[[float], Path]:
    """Build each version value once per session; tests copy the directory where they need it."""
    root = tmp_path_factory.mktemp("toy-models")
    built: dict[float, Path] = {}

    def get(version_value: float) -> Path:
        if version_value not in built:
            built[version_value] = build_toy_saved_model(root / f"v{version_value}", version_value)
        return built[version_value]
    return get


@pytest.fixture
def model_base(tmp_path: Path, toy_model_cache: Callable[[float], Path]) -> Callable[..., Path]:
    """`model_base(1, 2)`: a base path holding toy versions 1 and 2 (logits offset = version)."""
    def make(*versions: int, name: str = "toy") -> Path:
        base = tmp_path / name
        base.mkdir(exist_ok=True)
        for version in versions:
            shutil.copytree(toy_model_cache(float(version)), base / str(version))
        return base
    return make


def wait_healthy(port: int, timeout: float = 60.0, service: str = "",
                 credentials: grpc.ChannelCredentials | None = None, target_host: str = "127.0.0.1") -> None:
    """Block until the health service reports SERVING."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    target = f"{target_host}:{port}"
    deadline = time.monotonic() + timeout
    with (grpc.secure_channel(target, credentials) if credentials else grpc.insecure_channel(target)) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"server on {target} not SERVING after {timeout}s")
            time.sleep(0.1)


@pytest.fixture
def start_server() -> Iterator[Callable[..., object]]:
    """`start_server(models=..., **config)`: an in-process server on 127.0.0.1, stopped afterwards."""
    from serving.model_config import ServerConfig
    from serving.server import start_server as start

    handles = []

    def make(**kwargs: object):
        kwargs.setdefault("port", 0)
        kwargs.setdefault("host", "127.0.0.1")
        kwargs.setdefault("poll_wait_seconds", 0.2)
        handle = start(ServerConfig(**kwargs))
        handles.append(handle)
        return handle
    yield make
    for handle in handles:
        handle.stop(grace=0)


@pytest.fixture
def wait_for_health() -> Callable[..., None]:
    return wait_healthy
