"""`charloom generate`: sample text from a served model over gRPC, optionally streaming it."""

from __future__ import annotations

import argparse
import logging
import sys

from serving import defaults
from serving.client.sampling import SamplingParams

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate text from a model served by TF Serving or `charloom serve`",
        description="Prefill the prompt(s), then sample --steps-per-call characters per Predict call "
        "in the model's `sample` signature (or one per call, sampled on the client, for "
        "a model without it). The prompt is printed, followed by the generated text.",
    )
    parser.add_argument(
        "--target", default=f"localhost:{defaults.GRPC_PORT}", help="server host:port"
    )
    parser.add_argument("--model", default=defaults.MODEL_NAME, help="served model name")
    parser.add_argument(
        "--version", type=int, default=None, help="model version (default: the latest)"
    )
    parser.add_argument(
        "--prompt",
        action="append",
        required=True,
        help="text to continue; repeat for several prompts in one batch",
    )
    parser.add_argument("--num-samples", type=int, default=1, help="samples per prompt")
    parser.add_argument(
        "--max-new-tokens", type=int, default=defaults.MAX_NEW_TOKENS, help="characters to generate"
    )
    parser.add_argument(
        "--temperature", type=float, default=SamplingParams.temperature, help="0 = greedy"
    )
    parser.add_argument(
        "--top-k",
        type=int,
        default=SamplingParams.top_k,
        help="keep the k most likely characters (0 = off)",
    )
    parser.add_argument(
        "--top-p",
        type=float,
        default=SamplingParams.top_p,
        help="nucleus sampling mass in (0, 1] (1 = off)",
    )
    parser.add_argument("--seed", type=int, default=None, help="same seed -> same text")
    parser.add_argument(
        "--stop",
        action="append",
        default=None,
        help="stop a sample when it generates this string (repeatable; not printed)",
    )
    parser.add_argument("--stream", action="store_true", help="print text as it is generated")
    parser.add_argument(
        "--steps-per-call",
        type=int,
        default=defaults.STEPS_PER_CALL,
        help="characters sampled by the model per Predict call (1 = one step call per "
        "character, sampled on the client; same text either way)",
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
    parser.set_defaults(handler=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    from serving.client.errors import SamplingArgumentError
    from serving.client.generator import GenerationClient
    from serving.client.grpc_backend import RetryPolicy

    options = dict(
        num_samples=args.num_samples,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        stop=args.stop,
    )
    if args.stream and (len(args.prompt) > 1 or args.num_samples > 1):
        raise SamplingArgumentError(
            "--stream prints one text as it is produced: use a single --prompt and --num-samples 1"
        )
    client = GenerationClient(
        args.target,
        args.model,
        args.version,
        timeout=args.timeout,
        retry=RetryPolicy(max_attempts=args.max_attempts),
        tls_ca=args.tls_ca,
        tls_server_name=args.tls_server_name,
        steps_per_call=args.steps_per_call,
        max_rows_per_call=args.max_rows_per_call,
        resume_seconds=args.resume_seconds,
        load_balancing=args.load_balancing,
    )
    with client:
        request = client.request(args.prompt, **options)  # bad arguments fail before any RPC
        if args.wait_ready is not None:
            client.wait_until_ready(args.wait_ready)
        log.info("generating with seed %d", request.seed)
        if args.stream:
            sys.stdout.write(args.prompt[0])
            sys.stdout.flush()
            for chunk in client.stream_request(request):
                sys.stdout.write(chunk.text)
                sys.stdout.flush()
            sys.stdout.write("\n")
            return 0
        results = client.generate(args.prompt, **{**options, "seed": request.seed})
    for result in results:
        if len(results) > 1:
            print(
                f"--- prompt {result.prompt_index + 1}, sample {result.sample_index + 1} "
                f"({result.finish_reason}, seed {result.seed}) ---"
            )
        print(result.prompt + result.text)
    return 0
