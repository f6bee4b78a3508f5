"""Keras callbacks of a training run: per-epoch metrics, resumable plateau callbacks, checkpoints.

All the work happens once per epoch (never per batch), so the callbacks cost nothing
measurable next to the training steps.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from trainer.checkpoints import copy_checkpoint, write_checkpoint
from trainer.config import TrainingConfig
from trainer.durable import os_error_text
from trainer.errors import RunError
from trainer.runs import BEST_DIR, epoch_dir, prune_checkpoints
from trainer.vocabulary import Vocabulary

logger = logging.getLogger(__name__)

LN2 = math.log(2.0)


def current_learning_rate(model: keras.Model) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


class EpochMetrics(keras.callbacks.Callback):
    """Adds bits per character (for a character model: its loss / ln 2; a word model's own
    `BitsPerCharacter` metric is left as it is), chars/s and the learning rate to the epoch logs.

    Must come first in the callback list: later callbacks (TensorBoard, the progress bar,
    the checkpoint writer) see the added values in the same ``logs`` dict.
    """

    def __init__(self, chars_per_epoch: int):
        super().__init__()
        self.chars_per_epoch = chars_per_epoch
        self._started = 0.0
        self._train_seconds: float | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()
        self._train_seconds = None

    def on_test_begin(self, logs: dict | None = None) -> None:
        if self._train_seconds is None:  # validation starts: the training part of the epoch is over
            self._train_seconds = time.perf_counter() - self._started

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        elapsed = time.perf_counter() - self._started
        train_seconds = self._train_seconds or elapsed
        logs["learning_rate"] = current_learning_rate(self.model)
        for prefix in ("", "val_"):
            if f"{prefix}loss" in logs and f"{prefix}bpc" not in logs:
                logs[f"{prefix}bpc"] = float(logs[f"{prefix}loss"]) / LN2
        logs["chars_per_sec"] = self.chars_per_epoch / max(train_seconds, 1e-9)
        logs["epoch_seconds"] = elapsed


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class _RestoresCounters:
    """A Keras callback whose counters come back from a checkpoint's ``restore`` dict, since its
    ``on_train_begin`` would reset them."""

    def __init__(self, restore: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self._restore = restore or {}


class ResumableEarlyStopping(_RestoresCounters, keras.callbacks.EarlyStopping):
    """EarlyStopping whose counters survive a resume."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        self.wait = int(self._restore.get("wait", 0))
        self.best = self._restore.get("best")
        self.best_epoch = int(self._restore.get("best_epoch", 0))

    def state(self) -> dict:
        return {
            "wait": self.wait,
            "best": _finite(self.best),
            "best_epoch": self.best_epoch,
            "stopped": bool(self.model.stop_training),
        }


class ResumableReduceLROnPlateau(_RestoresCounters, keras.callbacks.ReduceLROnPlateau):
    """ReduceLROnPlateau whose counters survive a resume; the LR itself is optimizer state."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        self.wait = int(self._restore.get("wait", 0))
        self.cooldown_counter = int(self._restore.get("cooldown_counter", 0))
        if self._restore.get("best") is not None:
            self.best = float(self._restore["best"])

    def state(self) -> dict:
        return {
            "wait": self.wait,
            "best": _finite(self.best),
            "cooldown_counter": self.cooldown_counter,
        }


METRIC_KEYS = (
    "loss",
    "accuracy",
    "bpc",
    "val_loss",
    "val_accuracy",
    "val_bpc",
    "chars_per_sec",
    "learning_rate",
    "epoch_seconds",
)


class CheckpointWriter(keras.callbacks.Callback):
    """After each epoch: a self-contained checkpoint, ``best/`` on a new lowest val_loss,
    then ``on_saved(epoch, metrics, checkpoint_dir)``.

    Must come after EarlyStopping/ReduceLROnPlateau so their updated counters are saved.
    """

    def __init__(
        self,
        run_dir: Path,
        config: TrainingConfig,
        vocabulary: Vocabulary,
        *,
        history: list[dict],
        source: dict,
        keep: int,
        stateful: dict[str, Any],
        on_saved: Callable[[int, dict, Path], None],
        best_val_loss: float = math.inf,
    ):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.config = config
        self.vocabulary = vocabulary
        self.history = history
        self.source = source
        self.keep = keep
        self.stateful = stateful  # name -> callback with a .state() method
        self.on_saved = on_saved
        self.best_val_loss = best_val_loss  # the val_loss of the checkpoint in best/

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        metrics = {k: float(logs[k]) for k in METRIC_KEYS if k in logs}
        completed = epoch + 1
        self.history.append({"epoch": completed, **metrics})
        state = {name: cb.state() for name, cb in self.stateful.items()}
        state["stopped_early"] = bool(self.model.stop_training)
        try:
            checkpoint = write_checkpoint(
                epoch_dir(self.run_dir, completed),
                self.model,
                self.config,
                self.vocabulary,
                epoch=completed,
                metrics=metrics,
                history=self.history,
                state=state,
                source=self.source,
            )
            val_loss = metrics.get("val_loss", math.inf)
            if val_loss < self.best_val_loss:
                copy_checkpoint(checkpoint, self.run_dir / BEST_DIR)
                self.best_val_loss = val_loss
            prune_checkpoints(self.run_dir, self.keep, protect=checkpoint)
        except OSError as exc:  # a full disk, most often: nothing half-written is left behind
            raise RunError(
                f"cannot save epoch {completed} in {self.run_dir}: {os_error_text(exc)}; "
                "the last saved epoch is intact: free space, then `train --resume` goes on from it "
                "(and writes best/ as the uninterrupted run would have)"
            ) from None
        logger.info(
            "epoch %d: %s", completed, ", ".join(f"{k}={v:.4g}" for k, v in metrics.items())
        )
        self.on_saved(completed, metrics, checkpoint)
