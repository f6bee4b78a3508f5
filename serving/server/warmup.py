"""Model warmup: replay a version's ``assets.extra/tf_serving_warmup_requests`` before serving it.

As TF Serving does (servables/tensorflow/saved_model_warmup_util.cc): the file is a TFRecord of
PredictionLog records, at most 1000; each Predict record runs once through the same path as a
client's request (batching included) while the version is still LOADING, and any failure fails
the load. A version without the file loads as usual. The first request a client sends then
does not pay for building the session's executors.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from serving import contract
from serving.errors import ServingError

logger = logging.getLogger(__name__)
MAX_WARMUP_RECORDS = 1000


def warmup_path(saved_model_dir: Path) -> Path:
    return Path(saved_model_dir) / contract.WARMUP_DIRECTORY / contract.WARMUP_FILE


def replay_warmup(
    saved_model_dir: Path, run: Callable[[predict_pb2.PredictRequest], object]
) -> int:
    """Run every Predict record of the warmup file through ``run``; the number of records replayed."""
    path = warmup_path(saved_model_dir)
    if not path.is_file():
        logger.info("no warmup data file found at %s", path)
        return 0
    started = time.monotonic()
    count = 0
    try:
        records = list(tf.data.TFRecordDataset(str(path)).as_numpy_iterator())
    except tf.errors.OpError as exc:
        raise ServingError(f"cannot read warmup file {path}: {exc.message}") from None
    for serialized in records:
        count += 1
        if count > MAX_WARMUP_RECORDS:
            raise ServingError(
                f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}"
            )
        record = prediction_log_pb2.PredictionLog()
        try:
            record.ParseFromString(serialized)
        except DecodeError:
            raise ServingError(f"Failed to parse warmup record {count} from {path}") from None
        kind = record.WhichOneof("log_type")
        if kind != "predict_log":
            raise ServingError(
                f"warmup record {count} in {path} is a {kind}: this server replays only "
                "Predict records"
            )
        run(record.predict_log.request)
    logger.info(
        "replayed %d warmup records from %s in %.2fs", count, path, time.monotonic() - started
    )
    return count
