"""`charloom generate`: sample text from a served model over gRPC, optionally streaming it."""

from __future__ import annotations

import argparse
import logging
import sys

from charloom.commands.connection import add_connection_arguments, connect
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
    add_connection_arguments(parser)
    parser.set_defaults(handler=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    from serving.client.errors import SamplingArgumentError

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
    client = connect(args, steps_per_call=args.steps_per_call)
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
