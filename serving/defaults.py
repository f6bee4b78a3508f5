"""Deployment defaults shared by the local server, the client and the Kubernetes manifests.

This module is the one place these values live: `k8s/` renders its ConfigMaps and ports from
it (see k8s/README section in the top-level README), and tests fail when they drift.
"""

MODEL_NAME = "charloom"
GRPC_PORT = 8500
REST_PORT = 8501  # TF Serving's REST port; the local server uses it for Prometheus metrics
MONITORING_PATH = "/monitoring/prometheus/metrics"  # TF Serving's conventional Prometheus path
FILE_SYSTEM_POLL_WAIT_SECONDS = 1
MODEL_BASE_PATH_IN_CONTAINER = "/models/charloom"

# TF Serving batching parameters (BatchingParameters text proto fields).
MAX_BATCH_SIZE = 64
BATCH_TIMEOUT_MICROS = 2000
NUM_BATCH_THREADS = 2
MAX_ENQUEUED_BATCHES = 1000

# Abuse limits of the local server.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_REQUEST_BATCH = 256
MAX_PROMPT_LENGTH = 4096
SHUTDOWN_GRACE_SECONDS = 10  # local server: how long in-flight calls may finish after SIGTERM

# Client: characters per Predict call through the model's `sample` signature.
STEPS_PER_CALL = 16
