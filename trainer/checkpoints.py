"""Self-contained checkpoint directories: written atomically, read back, their weights loaded.

A checkpoint directory holds everything needed to resume or export one epoch's model:
``model.weights.h5`` (Keras weights, plus the optimizer state when the model was compiled),
``vocabulary.json`` and ``checkpoint.json`` (config, epoch, metrics, history, callback state,
and the weights' sha256). Every directory is written under a temporary name, flushed to disk
and renamed into place, so a killed process or a power loss never leaves a half checkpoint
that resume or export would pick up; weights that do not match their ``checkpoint.json``
(truncated, or replaced by another epoch's while being read) are refused by
`verify_weights`. Where checkpoints sit in a run directory is trainer/runs.py's business.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trainer.config import TrainingConfig
from trainer.durable import fsync_path, fsync_tree, sha256_file
from trainer.errors import RunError, TrainerError
from trainer.jsonfile import read_json_object, utc_now
from trainer.vocabulary import Vocabulary

logger = logging.getLogger(__name__)

FORMAT = "charloom-checkpoint/1"
META_FILE = "checkpoint.json"
WEIGHTS_FILE = "model.weights.h5"


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A loaded ``checkpoint.json`` plus its directory; weights are read by ``load_weights``."""

    directory: Path
    config: TrainingConfig
    vocabulary: Vocabulary
    epoch: int
    metrics: dict[str, float]
    history: list[dict]
    state: dict[str, Any]  # callback state (early stopping, LR plateau), learning rate
    source: dict[str, Any]  # run directory, corpus description
    weights_sha256: str | None = None  # None in checkpoints written before it was recorded

    @property
    def weights_path(self) -> Path:
        return self.directory / WEIGHTS_FILE


def write_checkpoint(
    directory: Path,
    model,
    config: TrainingConfig,
    vocabulary: Vocabulary,
    *,
    epoch: int,
    metrics: dict | None = None,
    history: list | None = None,
    state: dict | None = None,
    source: dict | None = None,
) -> Path:
    """Write a checkpoint atomically to ``directory`` (replacing an older one of that name)."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with _staged(directory) as tmp:
        tmp.mkdir()
        model.save_weights(str(tmp / WEIGHTS_FILE))
        vocabulary.save(tmp)
        meta = {
            "format": FORMAT,
            "epoch": epoch,
            "config": config.to_dict(),
            "vocabulary_fingerprint": vocabulary.fingerprint,
            "metrics": metrics or {},
            "history": history or [],
            "state": state or {},
            "source": source or {},
            "weights_sha256": sha256_file(tmp / WEIGHTS_FILE),
            "created": utc_now(),
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return directory


@contextlib.contextmanager
def _staged(directory: Path) -> Iterator[Path]:
    """A temporary sibling of ``directory`` for the caller to fill; when the block ends it is
    flushed to disk and renamed over ``directory``, and if the block fails it is removed."""
    tmp = directory.parent / f".tmp-{directory.name}-{uuid.uuid4().hex[:8]}"
    try:
        yield tmp
        fsync_tree(tmp)
        _replace_dir(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace_dir(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target``; an existing ``target`` is moved aside first, then deleted."""
    old = None
    if target.exists():
        old = target.parent / f".old-{target.name}-{uuid.uuid4().hex[:8]}"
        os.rename(target, old)
    os.rename(new, target)
    fsync_path(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def copy_checkpoint(source: Path, directory: Path) -> Path:
    """Copy a complete checkpoint to ``directory`` atomically (used for ``best/``)."""
    directory = Path(directory)
    with _staged(directory) as tmp:
        shutil.copytree(source, tmp)
    return directory


def read_checkpoint(directory: Path) -> Checkpoint:
    """Load a checkpoint's metadata and vocabulary; a missing or damaged one is a RunError."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RunError(f"checkpoint directory {directory} does not exist")
    meta_path = directory / META_FILE
    meta = read_json_object(
        meta_path, RunError, f"{directory} is not a checkpoint (no {META_FILE})"
    )
    if meta.get("format") != FORMAT:
        raise RunError(f"{meta_path} is not a {FORMAT} document")
    if not (directory / WEIGHTS_FILE).is_file():
        raise RunError(f"checkpoint {directory} has no {WEIGHTS_FILE}")
    try:
        config = TrainingConfig.from_mapping(meta["config"])
        vocabulary = Vocabulary.load(directory)
        epoch = int(meta["epoch"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RunError(f"{meta_path} is incomplete: {exc!r}") from None
    except TrainerError as exc:
        raise RunError(f"checkpoint {directory}: {exc}") from None
    if meta.get("vocabulary_fingerprint") != vocabulary.fingerprint:
        raise RunError(f"checkpoint {directory}: vocabulary.json does not match {META_FILE}")
    sha = meta.get("weights_sha256")
    return Checkpoint(
        directory=directory,
        config=config,
        vocabulary=vocabulary,
        epoch=epoch,
        metrics=dict(meta.get("metrics") or {}),
        history=list(meta.get("history") or []),
        state=dict(meta.get("state") or {}),
        source=dict(meta.get("source") or {}),
        weights_sha256=sha if isinstance(sha, str) else None,
    )


def verify_weights(checkpoint: Checkpoint) -> None:
    """RunError unless the weights file is the one ``checkpoint.json`` was written with."""
    if checkpoint.weights_sha256 is None:
        return
    try:
        actual = sha256_file(checkpoint.weights_path)
    except OSError as exc:
        raise RunError(f"cannot read {checkpoint.weights_path}: {exc.strerror}") from None
    if actual != checkpoint.weights_sha256:
        raise RunError(
            f"checkpoint {checkpoint.directory}: {WEIGHTS_FILE} does not match {META_FILE} "
            "(truncated, or replaced while being read)"
        )


def intact_checkpoint(directory: Path) -> Checkpoint:
    """`read_checkpoint` plus `verify_weights`: a checkpoint whose weights can be trusted."""
    checkpoint = read_checkpoint(directory)
    verify_weights(checkpoint)
    return checkpoint


def load_weights(model, checkpoint: Checkpoint) -> None:
    """Load weights (and optimizer state when ``model`` has a built optimizer) from a checkpoint."""
    verify_weights(checkpoint)
    try:
        model.load_weights(str(checkpoint.weights_path))
    except (OSError, ValueError, KeyError) as exc:
        raise RunError(
            f"cannot load weights from {checkpoint.weights_path}: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
