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

import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from serving import contract, defaults
from serving.signature_inputs import Inputs, example_inputs
from trainer.config import TrainingConfig
from trainer.model import state_names


def _request(signature: str, inputs: Inputs) -> prediction_log_pb2.PredictionLog:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = defaults.MODEL_NAME
    request.model_spec.signature_name = signature
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)
    )


def warmup_records(
    config: TrainingConfig, vocab_size: int
) -> list[prediction_log_pb2.PredictionLog]:
    """One request per signature the client uses, at the shapes it uses them."""
    inputs = example_inputs(dict(state_names(config)), vocab_size)
    return [_request(signature, values) for signature, values in inputs.items()]


def write_warmup_file(saved_model_dir: Path, config: TrainingConfig, vocab_size: int) -> Path:
    """Write the records into ``<saved_model_dir>/assets.extra/tf_serving_warmup_requests``."""
    directory = Path(saved_model_dir) / contract.WARMUP_DIRECTORY
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / contract.WARMUP_FILE
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in warmup_records(config, vocab_size):
            writer.write(record.SerializeToString())
    return path
