"""Run directories: where a run's checkpoints, best copy and record live, and what a resume may change.

| path | what it holds |
| --- | --- |
| `run.json` | config, corpus, status, history |
| `checkpoints/epoch-NNNN/` | the last few epochs' checkpoints (trainer/checkpoints.py) |
| `best/` | a copy of the checkpoint with the lowest val_loss |
"""

from __future__ import annotations

import logging
import math
import re
import shutil
from pathlib import Path

from trainer.checkpoints import (
    META_FILE,
    Checkpoint,
    copy_checkpoint,
    intact_checkpoint,
    read_checkpoint,
)
from trainer.config import TrainingConfig
from trainer.errors import ConfigError, RunError
from trainer.jsonfile import read_json_object
from trainer.vocabulary import Vocabulary

CHECKPOINTS_DIR = "checkpoints"
BEST_DIR = "best"
RUN_FILE = "run.json"
_EPOCH_DIR = re.compile(r"^epoch-([0-9]{4,})$")
logger = logging.getLogger(__name__)


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


def prune_checkpoints(run_dir: Path, keep: int, protect: Path | None = None) -> None:
    """Delete all but the newest ``keep`` epoch checkpoints; ``protect`` (the one just written and
    about to be reported) is never deleted."""
    for _, path in epoch_checkpoints(run_dir)[:-keep]:
        if protect is not None and path.resolve() == Path(protect).resolve():
            continue
        shutil.rmtree(path, ignore_errors=True)
    root = Path(run_dir) / CHECKPOINTS_DIR
    for leftover in root.glob(".tmp-*"):  # from a process killed while writing
        shutil.rmtree(leftover, ignore_errors=True)


def discard_later_epochs(run_dir: Path, epoch: int) -> None:
    """Delete epoch checkpoints after ``epoch``: a run resumed from an earlier checkpoint (a
    restarted trial, a PBT clone) must not keep another history's future, which pruning would
    prefer to its new checkpoints and a later resume would pick up."""
    for number, path in epoch_checkpoints(run_dir):
        if number > epoch:
            logger.info("removing %s: the run continues from epoch %d", path, epoch)
            shutil.rmtree(path, ignore_errors=True)


def align_best(run_dir: Path, start: Checkpoint) -> float:
    """Make ``best/`` hold the lowest val_loss of the history ``start`` continues, as an
    uninterrupted run would have it; the val_loss it holds (inf: none).

    ``best/`` may be missing or behind (the copy failed, on a full disk, after its epoch's
    checkpoint was saved: that epoch's checkpoint is copied now), or from another history (a
    later epoch, or a val_loss this history never had: replaced by this history's best at hand,
    else by ``start`` itself).
    """
    run_dir = Path(run_dir)
    best_dir = run_dir / BEST_DIR
    for leftover in (*run_dir.glob(f".tmp-{BEST_DIR}-*"), *run_dir.glob(f".old-{BEST_DIR}-*")):
        shutil.rmtree(leftover, ignore_errors=True)  # from a process killed while replacing it
    try:
        best = read_checkpoint(best_dir)
    except RunError:
        best = None
    scored = [
        h for h in start.history if h.get("val_loss") is not None and h["epoch"] <= start.epoch
    ]
    wanted = min(scored, key=lambda h: h["val_loss"]) if scored else None
    if best is not None and wanted is not None and best.epoch == wanted["epoch"]:
        if best.metrics.get("val_loss") == wanted["val_loss"]:
            return float(wanted["val_loss"])
    source = start
    if wanted is not None and wanted["epoch"] != start.epoch:
        try:
            candidate = read_checkpoint(epoch_dir(run_dir, wanted["epoch"]))
        except RunError:
            candidate = None
        if candidate is not None and candidate.metrics.get("val_loss") == wanted["val_loss"]:
            source = candidate
        elif best is not None and _same_history(best, start):
            return _val_loss(best)  # the history's best checkpoint is gone: keep the one at hand
    if best is not None:
        logger.info(
            "%s does not hold the best epoch of %s; replacing it", best_dir, start.directory
        )
    copy_checkpoint(source.directory, best_dir)
    return _val_loss(source)


def _same_history(checkpoint: Checkpoint, start: Checkpoint) -> bool:
    val_loss = checkpoint.metrics.get("val_loss")
    return checkpoint.epoch <= start.epoch and any(
        h.get("epoch") == checkpoint.epoch and h.get("val_loss") == val_loss for h in start.history
    )


def _val_loss(checkpoint: Checkpoint) -> float:
    return float(checkpoint.metrics.get("val_loss", math.inf))


def resume_checkpoint(path: Path) -> Checkpoint:
    """The checkpoint to resume from: a checkpoint directory as it is, or a run directory's newest
    intact epoch checkpoint (a damaged newest one, e.g. truncated by a crash, is skipped)."""
    path = Path(path)
    if (path / META_FILE).is_file():
        return intact_checkpoint(path)
    resolve_checkpoint(path)  # a RunError naming what path is not
    problems = []
    for _, candidate in reversed(epoch_checkpoints(path)):
        try:
            checkpoint = intact_checkpoint(candidate)
        except RunError as exc:
            problems.append(str(exc))
            logger.warning("skipping damaged checkpoint: %s", exc)
            continue
        if problems:
            logger.warning("resuming from the older intact checkpoint %s", candidate)
        return checkpoint
    raise RunError(
        f"{path} has no intact checkpoint to resume from"
        + (f" ({'; '.join(problems)})" if problems else "")
    )


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
        raise RunError(
            f"{path} is neither a run directory (no {RUN_FILE}) nor a checkpoint (no {META_FILE})"
        )
    if prefer == "best":
        if (path / BEST_DIR / META_FILE).is_file():
            return path / BEST_DIR
        # a process killed between the two renames of _replace_dir left the previous best aside
        aside = [p for p in sorted(path.glob(f".old-{BEST_DIR}-*")) if (p / META_FILE).is_file()]
        if aside:
            return aside[-1]
        raise RunError(
            f"run {path} has no best checkpoint ({BEST_DIR}/{META_FILE} missing); "
            f"it has not finished an epoch yet or is damaged"
        )
    return latest_checkpoint(path)


def read_run(run_dir: Path) -> dict:
    return read_json_object(
        Path(run_dir) / RUN_FILE, RunError, f"{run_dir} is not a run directory (no {RUN_FILE})"
    )


def check_resumable(
    checkpoint: Checkpoint,
    config: TrainingConfig,
    vocabulary: Vocabulary,
    corpus_sha256: str | None = None,
) -> None:
    """A resumed run may change how long it trains and the hyperparameters a checkpoint can carry
    over (learning rate, dropout, clipping, plateau settings: what PBT perturbs), not the model,
    the data or the optimizer."""
    recorded = (checkpoint.source.get("corpus") or {}).get("sha256")
    if corpus_sha256 and recorded and recorded != corpus_sha256:
        raise RunError(
            f"the corpus (sha256 {corpus_sha256[:12]}...) is not the one the checkpoint was "
            f"trained on (sha256 {recorded[:12]}...); resume with the same corpus"
        )
    if checkpoint.vocabulary.fingerprint != vocabulary.fingerprint:
        raise RunError(
            f"the corpus' vocabulary ({vocabulary.size} characters) differs from the "
            f"checkpoint's ({checkpoint.vocabulary.size}); resume with the same corpus"
        )
    changeable = {
        "epochs",
        "steps_per_epoch",
        "validation_steps",
        "early_stopping_patience",
        "reduce_lr_patience",
        "learning_rate",
        "dropout",
        "clipnorm",
        "reduce_lr_factor",
        "min_learning_rate",
        "jit_compile",
    }
    old, new = checkpoint.config.to_dict(), config.to_dict()
    changed = sorted(k for k in old if k not in changeable and old[k] != new.get(k))
    if changed:
        raise ConfigError(
            "cannot resume with a different config: "
            + ", ".join(f"{k} {old[k]!r} -> {new.get(k)!r}" for k in changed)
        )
