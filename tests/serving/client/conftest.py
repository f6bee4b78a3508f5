"""Client test fixtures: toy SavedModels that follow the export contract, and a fake gRPC server.

The toy models are tiny hand-written recurrent nets (random weights, no training) exposing the
same four signatures as trainer/export.py, so the client is tested without the trainer. The fake
PredictionService serves such a model over real gRPC on 127.0.0.1 and can be told to sleep or to
answer UNAVAILABLE, for deadline and retry tests.
"""

from __future__ import annotations

import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from tensorflow.core.framework import tensor_shape_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import (get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc)

from serving.tensors import from_tensor_proto, to_tensor_proto

TOY_CHARS = "\n !',.:?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
GRU_STATES = {"layer_0_h": 16, "layer_1_h": 12}
LSTM_STATES = {"layer_0_c": 16, "layer_0_h": 16}


class ToyCharModel(tf.Module):
    """A 2-layer tanh RNN ("gru") or a 1-layer cell with h and c ("lstm"); random fixed weights."""

    def __init__(self, cell: str, seed: int = 0) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        vocab = len(TOY_CHARS)
        self.cell = cell
        self.state_units = dict(GRU_STATES if cell == "gru" else LSTM_STATES)
        self.chars = tf.constant(list(TOY_CHARS))
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(list(TOY_CHARS), tf.range(vocab, dtype=tf.int32)), -1)
        w = lambda *shape, scale=1.0: tf.Variable((rng.normal(size=shape) * scale).astype(np.float32))
        self.embedding = w(vocab, 16, scale=1.5)
        self.recurrent0 = w(16, 16, scale=0.5)
        self.inner = w(16, 12, scale=0.7)
        self.recurrent1 = w(12, 12, scale=0.5)
        self.output = w(12 if cell == "gru" else 16, vocab, scale=2.0)

    def advance(self, ids: tf.Tensor, states: dict) -> dict:
        x = tf.gather(self.embedding, ids)
        if self.cell == "gru":
            h0 = tf.tanh(x + states["layer_0_h"] @ self.recurrent0)
            h1 = tf.tanh(h0 @ self.inner + states["layer_1_h"] @ self.recurrent1)
            return {"layer_0_h": h0, "layer_1_h": h1}
        c = 0.5 * states["layer_0_c"] + 0.5 * tf.tanh(x)
        return {"layer_0_c": c, "layer_0_h": tf.tanh(c + states["layer_0_h"] @ self.recurrent0)}

    def logits(self, states: dict) -> tf.Tensor:
        top = states["layer_1_h"] if self.cell == "gru" else states["layer_0_h"]
        return top @ self.output


def _state_specs(units: dict) -> list[tf.TensorSpec]:
    return [tf.TensorSpec([None, u], tf.float32, name=n) for n, u in units.items()]


def save_toy_model(directory: Path, cell: str, seed: int = 0) -> Path:
    model = ToyCharModel(cell, seed)
    names = list(model.state_units)

    @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.int32, name="input_ids"),
                                  *_state_specs(model.state_units)])
    def step(input_ids, *states):
        new = model.advance(input_ids[:, 0], dict(zip(names, states)))
        return {"logits": model.logits(new), **new}

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="input_ids"),
                                  tf.TensorSpec([None], tf.int32, name="lengths"),
                                  *_state_specs(model.state_units)])
    def prefill(input_ids, lengths, *states):
        current = dict(zip(names, states))
        for t in tf.range(tf.shape(input_ids)[1]):
            new = model.advance(input_ids[:, t], current)
            live = (t < lengths)[:, None]
            current = {n: tf.where(live, new[n], current[n]) for n in names}
        return {"logits": model.logits(current), **current}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def tokenize(text):
        chars = tf.strings.unicode_split(text, "UTF-8")
        ids = tf.ragged.map_flat_values(model.table.lookup, chars)
        return {"input_ids": ids.to_tensor(0), "lengths": tf.cast(ids.row_lengths(), tf.int32)}

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="input_ids")])
    def detokenize(input_ids):
        return {"text": tf.strings.reduce_join(tf.gather(model.chars, input_ids), axis=-1)}

    path = directory / f"toy-{cell}" / "1"
    tf.saved_model.save(model, str(path), signatures={
        "serving_default": step, "prefill": prefill, "tokenize": tokenize, "detokenize": detokenize})
    return path


@pytest.fixture(scope="session")
def toy_gru_dir(tmp_path_factory) -> Path:
    return save_toy_model(tmp_path_factory.mktemp("toy"), "gru")


@pytest.fixture(scope="session")
def toy_lstm_dir(tmp_path_factory) -> Path:
    return save_toy_model(tmp_path_factory.mktemp("toy"), "lstm")


def _tensor_info(spec: tf.TensorSpec) -> meta_graph_pb2.TensorInfo:
    shape = tensor_shape_pb2.TensorShapeProto(dim=[
        tensor_shape_pb2.TensorShapeProto.Dim(size=-1 if d is None else d) for d in spec.shape.as_list()])
    return meta_graph_pb2.TensorInfo(name=spec.name or "", dtype=spec.dtype.as_datatype_enum,
                                     tensor_shape=shape)


class FakePredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Serves a SavedModel's signatures; can sleep or fail with UNAVAILABLE on demand."""

    def __init__(self, saved_model_dir: Path, version: int = 1) -> None:
        self.model = tf.saved_model.load(str(saved_model_dir))
        self.version = version
        self.lock = threading.Lock()
        self.predict_calls: list[str] = []  # signature names, in order
        self.metadata_calls = 0
        self.unavailable_remaining = 0  # answer this many next Predict calls with UNAVAILABLE
        self.delay_seconds = 0.0  # sleep before answering Predict
        self.model_name = "toy"  # other names get NOT_FOUND, as from TF Serving

    def _check_name(self, request, context) -> None:
        if request.model_spec.name != self.model_name:
            context.abort(grpc.StatusCode.NOT_FOUND,
                          f"Servable not found for request: Latest({request.model_spec.name})")

    def GetModelMetadata(self, request, context):
        with self.lock:
            self.metadata_calls += 1
        self._check_name(request, context)
        defs = get_model_metadata_pb2.SignatureDefMap()
        for name, fn in self.model.signatures.items():
            sig = defs.signature_def[name]
            for key, spec in fn.structured_input_signature[1].items():
                sig.inputs[key].CopyFrom(_tensor_info(spec))
            for key, spec in fn.structured_outputs.items():
                sig.outputs[key].CopyFrom(_tensor_info(spec))
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = self.version
        response.metadata["signature_def"].Pack(defs)
        return response

    def Predict(self, request, context):
        name = request.model_spec.signature_name or "serving_default"
        with self.lock:
            self.predict_calls.append(name)
            fail = self.unavailable_remaining > 0
            self.unavailable_remaining -= fail
        if fail:
            context.abort(grpc.StatusCode.UNAVAILABLE, "shedding load (test)")
        self._check_name(request, context)
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        inputs = {k: tf.constant(from_tensor_proto(v)) for k, v in request.inputs.items()}
        outputs = self.model.signatures[name](**inputs)
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(request.model_spec)
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(to_tensor_proto(value.numpy()))
        return response


@pytest.fixture
def start_fake_server(toy_gru_dir):
    """`start_fake_server(credentials=None, port=0)` -> (port, servicer); stopped after the test."""
    servers = []

    def start(credentials: grpc.ServerCredentials | None = None, port: int = 0):
        servicer = FakePredictionService(toy_gru_dir)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(servicer, server)
        health_servicer = health.HealthServicer()
        health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        address = f"127.0.0.1:{port}"
        port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
        server.start()
        servers.append(server)
        return port, servicer
    yield start
    for server in servers:
        server.stop(grace=None)


@pytest.fixture
def fake_server(start_fake_server):
    """(target, servicer) of a FakePredictionService on a free loopback port."""
    port, servicer = start_fake_server()
    return f"127.0.0.1:{port}", servicer


@pytest.fixture
def unused_tcp_port() -> int:
    from ports import free_port

    return free_port()
