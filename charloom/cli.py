"""`charloom` command line: parse, dispatch to a subcommand, turn user errors into one line.

Every subcommand is a module of charloom/commands with ``register(subparsers)``; `COMMANDS` is
the one list of them. Heavy imports (TensorFlow, Ray) happen inside the handlers, so
``charloom --help`` is instant.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from charloom.commands import data, export, generate, serve, train, tune
from serving.client.errors import GenerationError
from serving.errors import ServingError
from trainer.errors import TrainerError

COMMANDS = (data, train, export, tune, serve, generate)
# Mistakes a user can fix: one line on stderr and exit code 2, never a traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (TrainerError, ServingError, GenerationError)


def build_parser() -> tuple[argparse.ArgumentParser, tuple[type[BaseException], ...]]:
    parser = argparse.ArgumentParser(
        prog="charloom",
        description="Train, tune, export, serve and sample character-level GRU/LSTM models.")
    parser.add_argument("--log-level", default=os.environ.get("CHARLOOM_LOG_LEVEL", "WARNING"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="library log level")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser, USER_ERRORS


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ banner off the terminal
    parser, user_errors = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("charloom: interrupted", file=sys.stderr)
        return 130
    except user_errors as exc:
        print(f"charloom {args.command}: error: {exc}", file=sys.stderr)
        return 2
