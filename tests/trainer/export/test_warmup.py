"""The warmup records TF Serving replays: one row per signature the client uses, each runnable."""

import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2


def test_warmup_requests_cover_the_client_signatures(exported):
    _, _, path, loaded = exported["gru", 1]
    records = []
    for serialized in tf.data.TFRecordDataset(
        str(path / "assets.extra" / "tf_serving_warmup_requests")
    ):
        records.append(prediction_log_pb2.PredictionLog.FromString(serialized.numpy()))
    names = [r.predict_log.request.model_spec.signature_name for r in records]
    assert sorted(names) == ["detokenize", "prefill", "sample", "score", "serving_default"]
    for record in records:  # each runs in the Session, with one row
        request = record.predict_log.request
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        assert {len(v) for v in inputs.values()} == {1}
        loaded[request.model_spec.signature_name](**inputs)
