"""Model warmup records: the requests the client sends, replayed by the server before serving.

TensorFlow Serving (and `charloom serve`) replays ``assets.extra/tf_serving_warmup_requests``, a
TFRecord file of PredictionLog records, when it loads a version and before the version becomes
AVAILABLE: the first real request of a new pod or a hot-swapped version then finds the session's
executors built and its kernels initialised. The records use the signatures and shapes the
generation client uses, with one row each: a record with more rows than a server's
``max_batch_size`` would fail the load there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from serving import contract, defaults
from trainer.config import TrainingConfig
from trainer.model import state_names


def _request(signature: str, inputs: dict[str, np.ndarray]) -> prediction_log_pb2.PredictionLog:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = defaults.MODEL_NAME
    request.model_spec.signature_name = signature
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)
    )


def warmup_records(config: TrainingConfig) -> list[prediction_log_pb2.PredictionLog]:
    """One request per signature the client uses, at the shapes it uses them."""
    states = {name: np.zeros((1, units), np.float32) for name, units in state_names(config)}
    one_id = np.zeros((1, 1), np.int32)
    prompt = np.zeros((1, contract.PREFILL_WIDTH), np.int32)
    return [
        _request(contract.DETOKENIZE, {contract.INPUT_IDS: one_id}),
        _request(
            contract.PREFILL,
            {contract.INPUT_IDS: prompt, contract.LENGTHS: np.array([8], np.int32), **states},
        ),
        _request(contract.STEP, {contract.INPUT_IDS: one_id, **states}),
        _request(
            contract.SAMPLE,
            {
                contract.INPUT_IDS: one_id,
                **states,
                contract.UNIFORMS: np.full((1, contract.SAMPLE_WIDTH), 0.5),
                contract.STEPS: np.array([defaults.STEPS_PER_CALL], np.int32),
                contract.TEMPERATURE: np.ones(1),
                contract.TOP_K: np.zeros(1, np.int32),
                contract.TOP_P: np.ones(1),
            },
        ),
    ]


def write_warmup_file(saved_model_dir: Path, config: TrainingConfig) -> Path:
    """Write the records into ``<saved_model_dir>/assets.extra/tf_serving_warmup_requests``."""
    directory = Path(saved_model_dir) / contract.WARMUP_DIRECTORY
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / contract.WARMUP_FILE
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in warmup_records(config):
            writer.write(record.SerializeToString())
    return path
