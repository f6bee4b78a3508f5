"""`charloom serve`: flags (named like TF Serving's model server flags) -> ServerConfig -> run.

Heavy imports (TensorFlow, grpc) happen inside the handler so `charloom --help` stays instant.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from serving import defaults
from serving.server.options import ServerOptions


def _boolean(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


DEFAULT = ServerOptions()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve exported models over TF Serving's gRPC API",
        description="A local TensorFlow-Serving-compatible gRPC server: PredictionService "
        "(Predict, GetModelMetadata), ModelService (GetModelStatus) and grpc.health.v1, "
        "over <model_base_path>/<integer version>/ SavedModels.",
    )
    models = parser.add_argument_group("models")
    models.add_argument(
        "--model-base-path", type=Path, help="directory of integer version subdirectories"
    )
    models.add_argument(
        "--model-name",
        default=DEFAULT.model_name,
        help="name clients ask for (default %(default)s)",
    )
    models.add_argument(
        "--model-config-file",
        type=Path,
        help="TF Serving model_config_list text proto (several models; replaces the two flags above)",
    )
    models.add_argument(
        "--file-system-poll-wait-seconds",
        type=float,
        default=DEFAULT.file_system_poll_wait_seconds,
        help="how often to look for new versions; 0 loads once (default %(default)s)",
    )
    network = parser.add_argument_group("network")
    network.add_argument(
        "--port", type=int, default=DEFAULT.port, help="gRPC port (default %(default)s)"
    )
    network.add_argument(
        "--host", default=DEFAULT.host, help="address to bind (default %(default)s)"
    )
    network.add_argument(
        "--rest-api-port",
        type=int,
        help=f"serve TF Serving's REST API (/v1/models/...) and Prometheus metrics "
        f"({defaults.MONITORING_PATH}) over HTTP on this port (TF Serving's is {defaults.REST_PORT})",
    )
    network.add_argument(
        "--rest-api-num-threads",
        type=int,
        default=None,
        help="threads for REST calls (default: 4 per CPU, as TF Serving)",
    )
    network.add_argument(
        "--rest-api-timeout-in-ms",
        type=int,
        default=DEFAULT.rest_api_timeout_in_ms,
        help="deadline of each REST predict call (default %(default)s, as TF Serving)",
    )
    network.add_argument(
        "--grpc-channel-arguments",
        default=DEFAULT.grpc_channel_arguments,
        help="gRPC server arguments as TF Serving takes them, e.g. "
        "grpc.max_connection_age_ms=300000,grpc.max_connection_age_grace_ms=30000",
    )
    network.add_argument(
        "--tls-cert", type=Path, help="PEM certificate chain (with --tls-key: serve TLS)"
    )
    network.add_argument("--tls-key", type=Path, help="PEM private key")
    network.add_argument(
        "--grace-seconds",
        type=float,
        default=DEFAULT.grace_seconds,
        help="on SIGTERM/SIGINT, how long in-flight calls may finish (default %(default)s)",
    )
    batching = parser.add_argument_group(
        "batching (TF Serving's rules; the last three flags are this server's and override the file)"
    )
    batching.add_argument(
        "--enable-batching", action="store_true", help="batch concurrent requests"
    )
    batching.add_argument(
        "--batching-parameters-file",
        type=Path,
        help="TF Serving BatchingParameters text proto (needs --enable-batching); without "
        "it TF Serving's defaults apply: 1000 rows, no timeout, 10 batches, a thread per CPU",
    )
    batching.add_argument("--max-batch-size", type=int, help="largest request and batch, in rows")
    batching.add_argument("--batch-timeout-micros", type=int, help="how long a batch waits to fill")
    batching.add_argument("--num-batch-threads", type=int, help="model calls in parallel")
    runtime = parser.add_argument_group("runtime")
    runtime.add_argument(
        "--tensorflow-intra-op-parallelism",
        type=int,
        default=DEFAULT.tensorflow_intra_op_parallelism,
        help="threads one TensorFlow op may use (0: one per core; as TF Serving's flag)",
    )
    runtime.add_argument(
        "--tensorflow-inter-op-parallelism",
        type=int,
        default=DEFAULT.tensorflow_inter_op_parallelism,
        help="TensorFlow ops run at once (0: one per core; as TF Serving's flag)",
    )
    runtime.add_argument(
        "--enable-model-warmup",
        type=_boolean,
        default=DEFAULT.enable_model_warmup,
        metavar="true|false",
        help="replay a version's assets.extra/tf_serving_warmup_requests before serving it "
        "(default true, as in TF Serving)",
    )
    runtime.add_argument(
        "--model-load-timeout-seconds",
        type=float,
        default=DEFAULT.model_load_timeout_seconds,
        help="a version whose load (warmup included) takes longer is abandoned and reported, "
        "so later versions still load (this server's own; default %(default)s, at most 86400)",
    )
    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--max-message-bytes",
        type=int,
        default=DEFAULT.max_message_bytes,
        help="largest gRPC message in either direction (default %(default)s)",
    )
    limits.add_argument(
        "--max-request-batch",
        type=int,
        default=DEFAULT.max_request_batch,
        help="largest dimension 0 of any input (default %(default)s)",
    )
    limits.add_argument(
        "--max-prompt-length",
        type=int,
        default=DEFAULT.max_prompt_length,
        help="largest dimension 1 of integer 'input_ids' inputs (default %(default)s)",
    )
    limits.add_argument(
        "--max-concurrent-requests",
        type=int,
        default=DEFAULT.max_concurrent_requests,
        help="Predict and GetModelMetadata calls handled at once; more are refused with "
        "RESOURCE_EXHAUSTED, and health checks keep their own threads (default %(default)s)",
    )
    parser.set_defaults(handler=run_serve)


def config_from_args(args: argparse.Namespace) -> ServerConfig:  # noqa: F821 - imported lazily
    """The flags as TF Serving's server options; the server reads the files they name."""
    from serving.server.options import ServerOptions

    names = {f.name for f in fields(ServerOptions)}
    return ServerOptions(**{k: v for k, v in vars(args).items() if k in names}).server_config()


def run_serve(args: argparse.Namespace) -> int:
    from serving.server.model_server import ServerHandle, run_server

    config = config_from_args(args)

    def announce(handle: ServerHandle) -> None:
        for model in config.models:
            versions = handle.manager.available_versions(model.name)
            print(f"serving {model.name} versions {versions} on port {handle.port}", flush=True)
        if handle.rest_port is not None:
            print(
                f"REST API at http://{config.host}:{handle.rest_port}/v1/models/{config.models[0].name}, "
                f"metrics at {defaults.MONITORING_PATH}",
                flush=True,
            )

    run_server(config, on_ready=announce)
    return 0
