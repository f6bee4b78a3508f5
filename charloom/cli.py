"""`charloom` command line: parse, dispatch to a package's subcommand, turn user errors into one line.

Each package contributes its subcommands through a ``commands`` module exposing
``register(subparsers)`` and ``USER_ERRORS``; heavy imports (TensorFlow, Ray) happen inside
the handlers, so ``charloom --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

COMMAND_MODULES = ("trainer.commands", "serving.commands")


def build_parser() -> tuple[argparse.ArgumentParser, tuple[type[BaseException], ...]]:
    parser = argparse.ArgumentParser(
        prog="charloom",
        description="Train, tune, export, serve and sample character-level GRU/LSTM models.")
    parser.add_argument("--log-level", default=os.environ.get("CHARLOOM_LOG_LEVEL", "WARNING"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="library log level")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    user_errors: list[type[BaseException]] = []
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(subparsers)
        user_errors.extend(module.USER_ERRORS)
    return parser, tuple(user_errors)


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
