"""Model warmup: a version's recorded requests run before it is AVAILABLE, and a bad one fails the load."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2, predict_pb2, prediction_log_pb2

from serving.server.config import BatchingOptions, ModelConfig, RuntimeOptions
from serving.server.warmup import warmup_path

AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE
END = get_model_status_pb2.ModelVersionStatus.END


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from trainer.config import TrainingConfig
    from trainer.export import export_saved_model
    from trainer.model import build_model
    from trainer.vocabulary import Vocabulary

    vocabulary = Vocabulary.from_text("ROMEO: But soft!\n")
    config = TrainingConfig(cell="lstm", num_layers=1, units=(8,), embedding_dim=4)
    return export_saved_model(
        build_model(config, vocabulary.size), config, vocabulary, tmp_path_factory.mktemp("warmup")
    )


def batches(handle) -> float:
    return (
        handle.metrics.registry.get_sample_value(
            ":tensorflow:serving:batching_session:processed_batch_size_count"
        )
        or 0.0
    )


def test_the_exports_warmup_runs_before_the_version_is_available(start_server, exported, tmp_path):
    base = tmp_path / "m"
    shutil.copytree(exported, base / "1")
    options = BatchingOptions(enabled=True, max_batch_size=8, num_batch_threads=1)
    handle = start_server(
        models=(ModelConfig("m", base),), batching=options, runtime=RuntimeOptions()
    )
    assert RuntimeOptions().enable_model_warmup  # TF Serving's default: on
    assert handle.manager.available_versions("m") == [1]
    assert (
        batches(handle) == 5
    )  # the five recorded requests ran (through batching, as on TF Serving)
    quiet = start_server(
        models=(ModelConfig("m", base),),
        batching=options,
        runtime=RuntimeOptions(enable_model_warmup=False),
    )
    assert quiet.manager.available_versions("m") == [1] and batches(quiet) == 0


def test_a_failing_warmup_request_fails_the_load(start_server, exported, tmp_path):
    base = tmp_path / "m"
    shutil.copytree(exported, base / "1")
    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = "serving_default"
    request.inputs["input_ids"].CopyFrom(
        tf.make_tensor_proto(np.array([[999]], np.int32))
    )  # out of range
    for name in ("layer_0_h", "layer_0_c"):
        request.inputs[name].CopyFrom(tf.make_tensor_proto(np.zeros((1, 8), np.float32)))
    with tf.io.TFRecordWriter(str(warmup_path(base / "1"))) as writer:
        writer.write(
            prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            ).SerializeToString()
        )
    handle = start_server(
        models=(ModelConfig("m", base),), poll_wait_seconds=0, runtime=RuntimeOptions()
    )
    record = handle.manager.version_states("m")[1]
    assert record.state == END and "outside the vocabulary" in record.error
    assert handle.manager.available_versions("m") == []
