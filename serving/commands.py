"""Serving subcommands: `serve` and `generate` (registered by the serving issue)."""

from __future__ import annotations

import argparse

from serving import generate_command, serve_command
from serving.client_errors import GenerationError
from serving.errors import ServingError

USER_ERRORS: tuple[type[BaseException], ...] = (ServingError, GenerationError)


def register(subparsers: argparse._SubParsersAction) -> None:
    serve_command.add_parser(subparsers)
    generate_command.add_parser(subparsers)
