"""Self-contained checkpoint directories and the run directory layout around them.

A checkpoint directory holds everything needed to resume or export one epoch's model:
``model.weights.h5`` (Keras weights, plus the optimizer state when the model was compiled),
``vocabulary.json`` and ``checkpoint.json`` (config, epoch, metrics, history, callback state).
Every directory is written under a temporary name and renamed into place, so a killed process
never leaves a half checkpoint that resume or export would pick up.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from trainer.config import TrainingConfig
from trainer.errors import ConfigError, RunError, TrainerError
from trainer.jsonfile import read_json_object
from trainer.vocabulary import Vocabulary

logger = logging.getLogger(__name__)

FORMAT = "charloom-checkpoint/1"
META_FILE = "checkpoint.json"
WEIGHTS_FILE = "model.weights.h5"
CHECKPOINTS_DIR = "checkpoints"
BEST_DIR = "best"
RUN_FILE = "run.json"
_EPOCH_DIR = re.compile(r"^epoch-(\d{4,})$")


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


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

    @property
    def weights_path(self) -> Path:
        return self.directory / WEIGHTS_FILE


def write_checkpoint(directory: Path, model, config: TrainingConfig, vocabulary: Vocabulary, *,
                     epoch: int, metrics: dict | None = None, history: list | None = None,
                     state: dict | None = None, source: dict | None = None) -> Path:
    """Write a checkpoint atomically to ``directory`` (replacing an older one of that name)."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.parent / f".tmp-{directory.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        model.save_weights(str(tmp / WEIGHTS_FILE))
        vocabulary.save(tmp)
        meta = {"format": FORMAT, "epoch": epoch, "config": config.to_dict(),
                "vocabulary_fingerprint": vocabulary.fingerprint, "metrics": metrics or {},
                "history": history or [], "state": state or {}, "source": source or {},
                "created": utc_now()}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        _replace_dir(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def _replace_dir(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target``; an existing ``target`` is moved aside first, then deleted."""
    old = None
    if target.exists():
        old = target.parent / f".old-{target.name}-{uuid.uuid4().hex[:8]}"
        os.rename(target, old)
    os.rename(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def copy_checkpoint(source: Path, directory: Path) -> Path:
    """Copy a complete checkpoint to ``directory`` atomically (used for ``best/``)."""
    directory = Path(directory)
    tmp = directory.parent / f".tmp-{directory.name}-{uuid.uuid4().hex[:8]}"
    try:
        shutil.copytree(source, tmp)
        _replace_dir(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def read_checkpoint(directory: Path) -> Checkpoint:
    """Load a checkpoint's metadata and vocabulary; a missing or damaged one is a RunError."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RunError(f"checkpoint directory {directory} does not exist")
    meta_path = directory / META_FILE
    meta = read_json_object(meta_path, RunError, f"{directory} is not a checkpoint (no {META_FILE})")
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
    return Checkpoint(directory=directory, config=config, vocabulary=vocabulary, epoch=epoch,
                      metrics=dict(meta.get("metrics") or {}), history=list(meta.get("history") or []),
                      state=dict(meta.get("state") or {}), source=dict(meta.get("source") or {}))


def load_weights(model, checkpoint: Checkpoint) -> None:
    """Load weights (and optimizer state when ``model`` has a built optimizer) from a checkpoint."""
    try:
        model.load_weights(str(checkpoint.weights_path))
    except (OSError, ValueError, KeyError) as exc:
        raise RunError(f"cannot load weights from {checkpoint.weights_path}: "
                       f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def load_model(checkpoint: Checkpoint):
    """Rebuild the training model from the checkpoint's config and load its weights."""
    from trainer.model import build_model

    model = build_model(checkpoint.config, checkpoint.vocabulary.size)
    load_weights(model, checkpoint)
    return model


# -- run directories ----------------------------------------------------------------------

def epoch_dir(run_dir: Path, epoch: int) -> Path:
    return Path(run_dir) / CHECKPOINTS_DIR / f"epoch-{epoch:04d}"


def epoch_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """Complete per-epoch checkpoints of a run, oldest first (temporary directories ignored)."""
    root = Path(run_dir) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _EPOCH_DIR.match(path.name)
        if match and (path / META_FILE).is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    for _, path in epoch_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(path, ignore_errors=True)
    root = Path(run_dir) / CHECKPOINTS_DIR
    for leftover in root.glob(".tmp-*"):  # from a process killed while writing
        shutil.rmtree(leftover, ignore_errors=True)


def latest_checkpoint(run_dir: Path) -> Path:
    checkpoints = epoch_checkpoints(run_dir)
    if not checkpoints:
        raise RunError(f"{run_dir} has no complete checkpoint to resume from")
    return checkpoints[-1][1]


def resolve_checkpoint(path: Path, prefer: str = "latest") -> Path:
    """A checkpoint directory as is, or a run directory's latest (``prefer="latest"``) or best."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path} does not exist or is not a directory")
    if (path / META_FILE).is_file():
        return path
    if not (path / RUN_FILE).is_file() and not (path / CHECKPOINTS_DIR).is_dir():
        raise RunError(f"{path} is neither a run directory (no {RUN_FILE}) nor a checkpoint "
                       f"(no {META_FILE})")
    if prefer == "best":
        if (path / BEST_DIR / META_FILE).is_file():
            return path / BEST_DIR
        # a process killed between the two renames of _replace_dir left the previous best aside
        aside = [p for p in sorted(path.glob(f".old-{BEST_DIR}-*")) if (p / META_FILE).is_file()]
        if aside:
            return aside[-1]
        raise RunError(f"run {path} has no best checkpoint ({BEST_DIR}/{META_FILE} missing); "
                       f"it has not finished an epoch yet or is damaged")
    return latest_checkpoint(path)


def read_run(run_dir: Path) -> dict:
    return read_json_object(Path(run_dir) / RUN_FILE, RunError,
                            f"{run_dir} is not a run directory (no {RUN_FILE})")


def check_resumable(checkpoint: Checkpoint, config: TrainingConfig, vocabulary: Vocabulary) -> None:
    """A resumed run may change how long it trains and the hyperparameters a checkpoint can carry
    over (learning rate, dropout, clipping, plateau settings: what PBT perturbs), not the model,
    the data or the optimizer."""
    if checkpoint.vocabulary.fingerprint != vocabulary.fingerprint:
        raise RunError(f"the corpus' vocabulary ({vocabulary.size} characters) differs from the "
                       f"checkpoint's ({checkpoint.vocabulary.size}); resume with the same corpus")
    changeable = {"epochs", "steps_per_epoch", "validation_steps", "early_stopping_patience",
                  "reduce_lr_patience", "learning_rate", "dropout", "clipnorm", "reduce_lr_factor",
                  "min_learning_rate"}
    old, new = checkpoint.config.to_dict(), config.to_dict()
    changed = sorted(k for k in old if k not in changeable and old[k] != new.get(k))
    if changed:
        raise ConfigError("cannot resume with a different config: "
                          + ", ".join(f"{k} {old[k]!r} -> {new.get(k)!r}" for k in changed))
