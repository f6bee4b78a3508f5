"""The options of a command that talks to a served model over gRPC (`generate`, `eval`), and the
client they make."""

from __future__ import annotations

import argparse

from serving import defaults


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target", default=f"localhost:{defaults.GRPC_PORT}", help="server host:port"
    )
    parser.add_argument("--model", default=defaults.MODEL_NAME, help="served model name")
    parser.add_argument(
        "--version", type=int, default=None, help="model version (default: the latest)"
    )
    parser.add_argument(
        "--max-rows-per-call",
        type=int,
        default=defaults.MAX_ROWS_PER_CALL,
        help="most rows (prompts x samples) in one Predict call; more are split into several "
        "calls (default %(default)s, the deployed max_batch_size; a smaller server limit "
        "is learned)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=defaults.CLIENT_TIMEOUT_SECONDS,
        help="deadline of each RPC, seconds (default %(default)s)",
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=defaults.CLIENT_MAX_ATTEMPTS,
        help="tries per RPC when the server is UNAVAILABLE (1-5)",
    )
    parser.add_argument(
        "--resume-seconds",
        type=float,
        default=defaults.CLIENT_RESUME_SECONDS,
        metavar="SECONDS",
        help="if the server goes away mid-text, wait this long for it to come back and "
        "continue the text (0: fail at once; default %(default)s)",
    )
    parser.add_argument(
        "--load-balancing",
        choices=defaults.LOAD_BALANCING_POLICIES,
        default=defaults.LOAD_BALANCING_POLICIES[0],
        help="round_robin: spread calls over every address of a dns:/// target (the pods "
        "behind a headless Service); default pick_first",
    )
    parser.add_argument(
        "--wait-ready",
        type=float,
        default=None,
        metavar="SECONDS",
        help="first wait up to SECONDS for the server to report SERVING",
    )
    parser.add_argument(
        "--tls-ca", default=None, help="CA certificate (PEM): use TLS and verify the server"
    )
    parser.add_argument(
        "--tls-server-name",
        default=None,
        help="name expected in the server certificate (default: the target host)",
    )


def connect(args: argparse.Namespace, **options):
    """A GenerationClient for ``args``' target and connection options (no RPC yet)."""
    from serving.client.generator import GenerationClient
    from serving.client.grpc_backend import RetryPolicy

    return GenerationClient(
        args.target,
        args.model,
        args.version,
        timeout=args.timeout,
        retry=RetryPolicy(max_attempts=args.max_attempts),
        tls_ca=args.tls_ca,
        tls_server_name=args.tls_server_name,
        max_rows_per_call=args.max_rows_per_call,
        resume_seconds=args.resume_seconds,
        load_balancing=args.load_balancing,
        **options,
    )
