"""`charloom serve`: a TensorFlow-Serving-compatible model server, faithful to TF Serving's behaviour.

`model_server.start_server(config)` assembles it: `servables` (versions found, loaded into a
Session as TF Serving loads them, hot-swapped), `warmup` (replayed before a version serves),
`predict` (PredictionService: RunPredict over `requests`' checks), `batching` (TF Serving's
batching rules), `model_service` (GetModelStatus), `status` (gRPC codes and the RPC frame),
`metrics` and `config` (flags and TF Serving's config file formats).
"""
