"""Deployment defaults shared by the local server, the client and the Kubernetes manifests.

This module is the one place these values live: `k8s/generate.py` renders the ConfigMaps and
ports of `k8s/` from it (docs/kubernetes.md), and tests/k8s fails when they drift.
"""

MODEL_NAME = "charloom"

# The official TensorFlow Serving images the Kubernetes overlays run, pinned to the newest tags
# confirmed published: 2.20.0 (release tag of 2026-04-23, announced by the maintainers on
# tensorflow/serving#4129) for CPU; for GPU 2.19.1, because no public record shows a
# `2.20.0-gpu` tag. TF Serving X.Y.Z runs TensorFlow X.Y.Z (2.20.0 builds TensorFlow's v2.20.0
# commit 72fbba3d), and the test suite loads every export with `tensorflow-cpu` of each
# version through the Session path (tests/e2e/test_serving_runtime.py).
TF_SERVING_CPU_VERSION = "2.20.0"
TF_SERVING_GPU_VERSION = "2.19.1"
TF_SERVING_RUNTIME_VERSIONS = tuple(sorted({TF_SERVING_CPU_VERSION, TF_SERVING_GPU_VERSION}))
GRPC_PORT = 8500
REST_PORT = 8501  # TF Serving's REST API (status, metadata, predict, Prometheus metrics); the local server's too
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
MAX_CONCURRENT_REQUESTS = 128  # Predict/GetModelMetadata calls at once; more: RESOURCE_EXHAUSTED
SHUTDOWN_GRACE_SECONDS = 10  # local server: how long in-flight calls may finish after SIGTERM

# Client: characters per Predict call through the model's `sample` signature, and the most rows
# it puts in one Predict call (TF Serving refuses a request above its max_batch_size).
STEPS_PER_CALL = 16
MAX_NEW_TOKENS = 200  # tokens a text gets when the caller names no number
EVAL_MAX_BYTES = 64 * 1024 * 1024  # the largest text `charloom eval` reads (checked before reading)
EVAL_MAX_WINDOW = 1 << 20  # the longest --window
CLIENT_MAX_ATTEMPTS = 5  # tries per RPC on UNAVAILABLE (gRPC caps a retry policy at 5)
LOAD_BALANCING_POLICIES = ("pick_first", "round_robin")  # gRPC policies the client offers
MAX_ROWS_PER_CALL = MAX_BATCH_SIZE
CLIENT_TIMEOUT_SECONDS = 10.0  # deadline of each RPC
CLIENT_RESUME_SECONDS = 60.0  # how long a text waits for a server that went away (a restarting pod)
# The client's ranges (a generate call, its waits): larger is a mistake, refused in one line.
CLIENT_MAX_TEXTS = 10_000  # prompts x num_samples of one call (each text holds its RNN states)
CLIENT_MAX_NEW_TOKENS = 10_000_000
CLIENT_MAX_SECONDS = 86_400.0  # --timeout, --resume-seconds, --wait-ready: at most a day
CLIENT_MAX_ROWS_PER_CALL = 65_536

# The generation gateway (serving/gateway): its ports and the limits of one request.
GATEWAY_HTTP_PORT = 8000  # the OpenAI-compatible API, as vLLM's default
GATEWAY_GRPC_PORT = 8010  # the gateway's own gRPC API (Generate, GenerateStream, health)
# Tokens each row samples per gateway call: every call costs a round trip and TF Serving's
# batching window, so the gateway takes larger blocks than one client's 16 (its text arrives in
# chunks of up to this many characters; same text either way).
GATEWAY_STEPS_PER_CALL = 32
GATEWAY_MAX_RUNNING_ROWS = 256  # rows (prompts x n) decoding at once; more requests wait
GATEWAY_MAX_WAITING_REQUESTS = 256  # requests waiting for rows; past it: 429 / RESOURCE_EXHAUSTED
GATEWAY_MAX_TOKENS = 4096  # the largest max_tokens a request may ask for
GATEWAY_DEFAULT_MAX_TOKENS = 16  # OpenAI's completions default
GATEWAY_MAX_N = 16  # samples per prompt
GATEWAY_MAX_PROMPTS = 64  # prompts per request
GATEWAY_MAX_BODY_BYTES = 1024 * 1024  # one HTTP request body
GATEWAY_RETRY_AFTER_SECONDS = 1  # what a 429 / RESOURCE_EXHAUSTED asks the client to wait
