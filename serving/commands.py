"""Serving subcommands: `serve` and `generate` (registered by the serving issue)."""

from __future__ import annotations

import argparse

USER_ERRORS: tuple[type[BaseException], ...] = ()


def register(subparsers: argparse._SubParsersAction) -> None:
    return None
