"""`charloom` command line: parse, dispatch to a subcommand, turn user errors into one line.

Every subcommand is a module of charloom/commands with ``register(subparsers)``; `COMMANDS` is
the one list of them. Heavy imports (TensorFlow, Ray) happen inside the handlers, so
``charloom --help`` is instant.
"""

from __future__ import annotations

import argparse
import os
import sys

from charloom.commands import data, evaluate, export, gateway, generate, serve, train, tune
from charloom.console import configure, quiet_tensorflow_import
from serving.client.errors import GenerationError
from serving.errors import ServingError
from trainer.errors import TrainerError

COMMANDS = (data, train, export, tune, serve, generate, evaluate, gateway)
# Mistakes a user can fix: one line on stderr and exit code 2, never a traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (TrainerError, ServingError, GenerationError)


def build_parser() -> tuple[argparse.ArgumentParser, tuple[type[BaseException], ...]]:
    parser = argparse.ArgumentParser(
        prog="charloom",
        description="Train, tune, export, serve and sample GRU/LSTM text generators (character or word level).",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also show TensorFlow, CUDA, gRPC and Ray's own logs and charloom's INFO logs",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("CHARLOOM_LOG_LEVEL"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="charloom's log level (default WARNING, INFO with --verbose)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser, USER_ERRORS


def main(argv: list[str] | None = None) -> int:
    parser, user_errors = build_parser()
    args = parser.parse_args(argv)
    configure(args.verbose, args.log_level)  # before any handler imports TensorFlow
    if not args.verbose:
        quiet_tensorflow_import()
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("charloom: interrupted", file=sys.stderr)
        return 130
    except user_errors as exc:
        print(f"charloom {args.command}: error: {exc}", file=sys.stderr)
        return 2
