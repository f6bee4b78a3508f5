"""Serving subcommands: `serve` and `generate` (registered by the serving issue)."""

from __future__ import annotations

import argparse

from serving import serve_command
from serving.errors import ServingError

USER_ERRORS: tuple[type[BaseException], ...] = (ServingError,)


def register(subparsers: argparse._SubParsersAction) -> None:
    serve_command.add_parser(subparsers)
