"""Run directories: where a run's checkpoints, best copy and record live, and what a resume may change.

| path | what it holds |
| --- | --- |
| `run.json` | config, corpus, status, history |
| `checkpoints/epoch-NNNN/` | the last few epochs' checkpoints (trainer/checkpoints.py) |
| `best/` | a copy of the checkpoint with the lowest val_loss |
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from trainer.checkpoints import META_FILE, Checkpoint
from trainer.config import TrainingConfig
from trainer.errors import ConfigError, RunError
from trainer.jsonfile import read_json_object
from trainer.vocabulary import Vocabulary

CHECKPOINTS_DIR = "checkpoints"
BEST_DIR = "best"
RUN_FILE = "run.json"
_EPOCH_DIR = re.compile(r"^epoch-(\d{4,})$")


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
