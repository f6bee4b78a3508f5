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
    parser.add_argument(
        "--min-p",
        type=float,
        default=SamplingParams.min_p,
        help="cut characters less likely than MIN_P x the most likely (0 = off)",
    )
    parser.add_argument(
        "--repetition-penalty",
        type=float,
        default=SamplingParams.repetition_penalty,
        help="divide (multiply, if negative) the logit of a character already in the prompt or "
        "the text by this (> 0; 1 = none)",
    )
    parser.add_argument(
        "--frequency-penalty",
        type=float,
        default=SamplingParams.frequency_penalty,
        help="subtract this x a character's count in the text from its logit ([-2, 2]; 0 = none)",
    )
    parser.add_argument(
        "--presence-penalty",
        type=float,
        default=SamplingParams.presence_penalty,
        help="subtract this from the logit of a character in the text ([-2, 2]; 0 = none)",
    )
    parser.add_argument(
        "--logit-bias",
        action="append",
        default=None,
        metavar="TOKEN=BIAS",
        help="add BIAS ([-100, 100]) to TOKEN's logit (a character model's tokens are its "
        "characters; repeatable)",
    )
    parser.add_argument(
        "--logprobs",
        type=int,
        default=None,
        metavar="N",
        help="after each text, print every token's log-probability and its N most likely "
        "alternatives (0-20)",
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
        min_p=args.min_p,
        repetition_penalty=args.repetition_penalty,
        frequency_penalty=args.frequency_penalty,
        presence_penalty=args.presence_penalty,
        logit_bias=parse_logit_bias(args.logit_bias),
        seed=args.seed,
        stop=args.stop,
        logprobs=args.logprobs,
    )
    if args.stream and (len(args.prompt) > 1 or args.num_samples > 1 or args.logprobs is not None):
        raise SamplingArgumentError(
            "--stream prints one text as it is produced: use a single --prompt, --num-samples 1 "
            "and no --logprobs"
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
        if result.logprobs is not None:
            print(format_logprobs(result.logprobs))
    return 0


def parse_logit_bias(entries: list[str] | None) -> dict[str, float]:
    """``TOKEN=BIAS`` entries (the last ``=`` splits, so ``==1`` biases ``=``)."""
    from serving.client.errors import SamplingArgumentError

    bias = {}
    for entry in entries or ():
        token, sep, value = entry.rpartition("=")
        try:
            bias[token] = float(value)
        except ValueError:
            sep = ""
        if not sep or not token:
            raise SamplingArgumentError(
                f"--logit-bias takes TOKEN=BIAS (e.g. 'e=-5'), got {entry!r:.60}"
            )
    return bias


def format_logprobs(entries) -> str:
    """One line per token: the token, its log-probability, then its alternatives."""
    lines = []
    for entry in entries:
        top = "  ".join(f"{token!r} {value:.4f}" for token, value in entry.top)
        lines.append(f"  {entry.token!r:>8} {entry.logprob:9.4f}" + (f"   | {top}" if top else ""))
    return "\n".join(lines)
