"""`charloom eval`: bits per character of a text through a served model (its `score` signature)."""

from __future__ import annotations

import argparse
from pathlib import Path

from charloom.commands.connection import add_connection_arguments, connect
from serving import defaults


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="bits per character of a text through a model served by TF Serving or "
        "`charloom serve`",
        description="Score every token of --corpus with the served model's `score` signature "
        "and print bits per character: the text as one sequence, the state carried across it "
        "(what a generator sees), or with --window N in independent windows of N+1 tokens from "
        "zero states, N predicted in each (the trainer's val_bpc with seq_len N, on the same "
        "text).",
    )
    parser.add_argument("--corpus", required=True, help="a UTF-8 text file to score")
    parser.add_argument(
        "--window",
        type=int,
        default=None,
        metavar="N",
        help=f"score windows of N+1 tokens from zero states (1 <= N <= {defaults.EVAL_MAX_WINDOW})",
    )
    add_connection_arguments(parser)
    parser.set_defaults(handler=run_eval)


def read_text(path: str) -> str:
    """The file's text, its size checked before it is read."""
    from serving.client.errors import SamplingArgumentError

    file = Path(path)
    if not file.is_file():
        raise SamplingArgumentError(f"--corpus {path}: no such file")
    size = file.stat().st_size
    if size > defaults.EVAL_MAX_BYTES:
        raise SamplingArgumentError(
            f"--corpus {path} is {size} bytes; at most {defaults.EVAL_MAX_BYTES} are scored "
            "(score a part of it)"
        )
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SamplingArgumentError(f"--corpus {path} is not UTF-8 text ({exc.reason})") from None


def run_eval(args: argparse.Namespace) -> int:
    from serving.client.errors import SamplingArgumentError

    if args.window is not None and not 1 <= args.window <= defaults.EVAL_MAX_WINDOW:
        raise SamplingArgumentError(
            f"--window must be in [1, {defaults.EVAL_MAX_WINDOW}], got {args.window}"
        )
    text = read_text(args.corpus)
    with connect(args) as client:
        if args.wait_ready is not None:
            client.wait_until_ready(args.wait_ready)
        result = client.evaluate(text, args.window)
        version = getattr(client.backend, "version", None)
    if result.tokens == 0:
        raise SamplingArgumentError(
            f"--corpus {args.corpus} has no token to score"
            + (f" (shorter than one window of {args.window + 1} tokens)" if args.window else "")
        )
    how = (
        f"windows of {args.window + 1} tokens from zero states"
        if args.window
        else "one sequence, the state carried"
    )
    print(
        f"{result.bits_per_character:.4f} bits per character over {result.characters} characters "
        f"({result.tokens} tokens; {how}; model {args.model} version {version})"
    )
    return 0
