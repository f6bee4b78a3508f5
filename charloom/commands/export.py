"""`charloom export`: a run's best checkpoint (or any checkpoint) as the next TF Serving version."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    export = subparsers.add_parser(
        "export",
        help="export a run's best checkpoint as the next SavedModel version for TF Serving",
    )
    source = export.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="run directory (its best/ checkpoint is exported)")
    source.add_argument(
        "--checkpoint", help="a checkpoint directory, e.g. runs/NAME/checkpoints/epoch-0003"
    )
    export.add_argument(
        "--model-base-path",
        required=True,
        help="TF Serving model base path; the model is written to <path>/<N+1>/",
    )
    export.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    from trainer.checkpoints import read_checkpoint
    from trainer.runs import resolve_checkpoint

    # A missing or damaged run fails here, before TensorFlow is imported.
    checkpoint = resolve_checkpoint(args.run or args.checkpoint, prefer="best")
    read_checkpoint(checkpoint)

    from trainer.export import export_checkpoint

    path = export_checkpoint(checkpoint, args.model_base_path)
    print(f"exported {path}")
    return 0
