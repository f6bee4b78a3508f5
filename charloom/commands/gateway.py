"""`charloom gateway`: an OpenAI-compatible generation gateway in front of TF Serving."""

from __future__ import annotations

import argparse
from pathlib import Path

from serving.gateway.config import API_KEY_ENV, GatewayConfig

DEFAULT = GatewayConfig()


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "gateway",
        help="serve generations over an OpenAI-compatible HTTP API and gRPC, batching every "
        "request's rows into shared calls to TF Serving",
        description="The gRPC client of TF Serving (or `charloom serve`) that runs the sampling "
        "loop for many requests at once: POST /v1/completions (plain or streamed), GET "
        "/v1/models, /metrics, /health, /ready; gRPC Generate and GenerateStream.",
    )
    p.add_argument(
        "--target",
        default=DEFAULT.target,
        help="TF Serving's gRPC address (host:port or dns:///...)",
    )
    p.add_argument(
        "--model", default=DEFAULT.model, help="the served model's name (default %(default)s)"
    )
    p.add_argument("--host", default=DEFAULT.host, help="address to bind (default %(default)s)")
    p.add_argument("--port", type=int, default=DEFAULT.port, help="HTTP port (default %(default)s)")
    p.add_argument(
        "--grpc-port",
        type=int,
        default=DEFAULT.grpc_port,
        help="gRPC port (default %(default)s; -1: no gRPC API)",
    )
    p.add_argument(
        "--load-balancing",
        default=DEFAULT.load_balancing,
        choices=("pick_first", "round_robin"),
        help="round_robin spreads calls over every address of a dns:/// target",
    )
    p.add_argument(
        "--max-rows-per-call",
        type=int,
        default=DEFAULT.max_rows_per_call,
        help="most rows in one call to TF Serving (its max_batch_size; a smaller server "
        "limit is learned; default %(default)s)",
    )
    p.add_argument(
        "--steps-per-call",
        type=int,
        default=DEFAULT.steps_per_call,
        help="tokens each row samples per model call (1-64, default %(default)s)",
    )
    p.add_argument(
        "--max-running-rows",
        type=int,
        default=DEFAULT.max_running_rows,
        help="rows (prompts x n) generating at once; more requests wait (default %(default)s)",
    )
    p.add_argument(
        "--max-waiting-requests",
        type=int,
        default=DEFAULT.max_waiting_requests,
        help="requests waiting for rows; more get 429 / RESOURCE_EXHAUSTED (default %(default)s)",
    )
    p.add_argument("--max-prompt-chars", type=int, default=DEFAULT.max_prompt_chars)
    p.add_argument(
        "--max-tokens-limit",
        type=int,
        default=DEFAULT.max_tokens_limit,
        help="the largest max_tokens a request may ask for (default %(default)s)",
    )
    p.add_argument(
        "--max-n", type=int, default=DEFAULT.max_n, help="choices per prompt (default %(default)s)"
    )
    p.add_argument(
        "--max-prompts",
        type=int,
        default=DEFAULT.max_prompts,
        help="prompts per request (default %(default)s)",
    )
    p.add_argument("--max-body-bytes", type=int, default=DEFAULT.max_body_bytes)
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT.timeout,
        help="deadline of each call to TF Serving, seconds (default %(default)s)",
    )
    p.add_argument(
        "--api-key-file",
        type=Path,
        default=None,
        help=f"require Authorization: Bearer <key>, keys one per line (or set ${API_KEY_ENV})",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from serving.gateway.server import run_gateway

    fields = {k: v for k, v in vars(args).items() if k in GatewayConfig.__dataclass_fields__}
    if fields.get("grpc_port") == -1:
        fields["grpc_port"] = None
    config = GatewayConfig(**fields)
    config.api_keys()  # an unreadable key file is one line now, not a failure later

    def ready(ports) -> None:
        grpc = f", gRPC on port {ports.grpc}" if ports.grpc is not None else ""
        print(
            f"gateway for {config.model} at {config.target}: OpenAI API on "
            f"http://{config.host}:{ports.http}/v1{grpc}",
            flush=True,
        )

    run_gateway(config, ready)
    return 0
