"""`charloom serve`: flags (named like TF Serving's model server flags) -> ServerConfig -> run.

Heavy imports (TensorFlow, grpc) happen inside the handler so `charloom --help` stays instant.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from serving import defaults
from serving.errors import ServingError


def _boolean(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


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
        default=defaults.MODEL_NAME,
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
        default=defaults.FILE_SYSTEM_POLL_WAIT_SECONDS,
        help="how often to look for new versions; 0 loads once (default %(default)s)",
    )
    network = parser.add_argument_group("network")
    network.add_argument(
        "--port", type=int, default=defaults.GRPC_PORT, help="gRPC port (default %(default)s)"
    )
    network.add_argument("--host", default="0.0.0.0", help="address to bind (default %(default)s)")
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
        default=30_000,
        help="deadline of each REST predict call (default %(default)s, as TF Serving)",
    )
    network.add_argument(
        "--grpc-channel-arguments",
        default="",
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
        default=defaults.SHUTDOWN_GRACE_SECONDS,
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
        default=0,
        help="threads one TensorFlow op may use (0: one per core; as TF Serving's flag)",
    )
    runtime.add_argument(
        "--tensorflow-inter-op-parallelism",
        type=int,
        default=0,
        help="TensorFlow ops run at once (0: one per core; as TF Serving's flag)",
    )
    runtime.add_argument(
        "--enable-model-warmup",
        type=_boolean,
        default=True,
        metavar="true|false",
        help="replay a version's assets.extra/tf_serving_warmup_requests before serving it "
        "(default true, as in TF Serving)",
    )
    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--max-message-bytes",
        type=int,
        default=defaults.MAX_MESSAGE_BYTES,
        help="largest gRPC message in either direction (default %(default)s)",
    )
    limits.add_argument(
        "--max-request-batch",
        type=int,
        default=defaults.MAX_REQUEST_BATCH,
        help="largest dimension 0 of any input (default %(default)s)",
    )
    limits.add_argument(
        "--max-prompt-length",
        type=int,
        default=defaults.MAX_PROMPT_LENGTH,
        help="largest dimension 1 of integer 'input_ids' inputs (default %(default)s)",
    )
    limits.add_argument(
        "--max-concurrent-requests",
        type=int,
        default=defaults.MAX_CONCURRENT_REQUESTS,
        help="Predict and GetModelMetadata calls handled at once; more are refused with "
        "RESOURCE_EXHAUSTED, and health checks keep their own threads (default %(default)s)",
    )
    parser.set_defaults(handler=run_serve)


def config_from_args(args: argparse.Namespace) -> ServerConfig:  # noqa: F821 - imported lazily
    """Validate the flags into a ServerConfig (ServingError on any mistake)."""
    from serving.server.batching_parameters import read_batching_parameters_file
    from serving.server.config import (
        BatchingOptions,
        RestOptions,
        RuntimeOptions,
        ServerConfig,
        ServerLimits,
        parse_channel_arguments,
        read_model_config_file,
        single_model,
    )

    if args.model_config_file and args.model_base_path:
        raise ServingError("give either --model-config-file or --model-base-path, not both")
    if args.model_config_file:
        models = read_model_config_file(args.model_config_file)
    elif args.model_base_path:
        models = (single_model(args.model_name, args.model_base_path),)
    else:
        raise ServingError("give --model-base-path (one model) or --model-config-file (several)")
    if args.batching_parameters_file and not args.enable_batching:
        raise ServingError(
            "--batching-parameters-file is set without --enable-batching "
            "(TF Serving refuses this too)"
        )
    batching = BatchingOptions(enabled=args.enable_batching)
    if args.batching_parameters_file:
        batching = replace(batching, **read_batching_parameters_file(args.batching_parameters_file))
    overrides = {
        name: getattr(args, name)
        for name in ("max_batch_size", "batch_timeout_micros", "num_batch_threads")
        if getattr(args, name) is not None
    }
    batching = replace(batching, **overrides)
    rest = RestOptions(port=args.rest_api_port, timeout_in_ms=args.rest_api_timeout_in_ms)
    if args.rest_api_num_threads is not None:
        rest = replace(rest, num_threads=args.rest_api_num_threads)
    return ServerConfig(
        models=models,
        port=args.port,
        host=args.host,
        poll_wait_seconds=args.file_system_poll_wait_seconds,
        batching=batching,
        limits=ServerLimits(
            args.max_message_bytes,
            args.max_request_batch,
            args.max_prompt_length,
            args.max_concurrent_requests,
        ),
        runtime=RuntimeOptions(
            args.tensorflow_intra_op_parallelism,
            args.tensorflow_inter_op_parallelism,
            args.enable_model_warmup,
        ),
        rest=rest,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        grace_seconds=args.grace_seconds,
        grpc_channel_arguments=parse_channel_arguments(args.grpc_channel_arguments),
    )


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
