"""`charloom train`: fit the model under a distribution strategy, checkpoint every epoch, resume exactly.

A run directory holds ``run.json`` (config, corpus, status, history), ``vocabulary.json``,
``checkpoints/epoch-NNNN/`` (the last few), ``best/`` (lowest val_loss), ``logs/``
(TensorBoard) and ``history.csv``. Resuming restores weights, optimizer state, the epoch
counter, early-stopping/LR-plateau counters and the data order (shuffles depend only on
``(seed, epoch)``), so a resumed run ends where an uninterrupted one would.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import math
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf

from trainer import checkpoints as ckpt
from trainer import runs
from trainer.bits_per_character import BitsPerCharacter
from trainer.callbacks import (
    METRIC_KEYS,
    CheckpointWriter,
    EpochMetrics,
    ResumableEarlyStopping,
    ResumableReduceLROnPlateau,
)
from trainer.config import TrainingConfig
from trainer.corpus import Corpus
from trainer.dataset import (
    batches_per_epoch,
    check_fits,
    split_ids,
    training_dataset,
    validation_dataset,
)
from trainer.durable import os_error_text
from trainer.errors import ConfigError, RunError
from trainer.jsonfile import utc_now, write_json_atomic
from trainer.memory import check_fits_in_memory
from trainer.model import build_model
from trainer.vocabulary import Vocabulary, build

logger = logging.getLogger(__name__)

KEEP_CHECKPOINTS = 3
LOGS_DIR = "logs"
HISTORY_CSV = "history.csv"


@dataclasses.dataclass
class EpochEnd:
    epoch: int  # epochs completed, 1-based
    metrics: dict[str, float]
    checkpoint_dir: Path  # resumable and exportable


@dataclasses.dataclass
class TrainResult:
    epochs_completed: int
    stopped_early: bool
    best_val_bpc: float
    best_checkpoint_dir: Path
    history: list[dict]


def make_optimizer(config: TrainingConfig) -> keras.optimizers.Optimizer:
    """Adam or RMSprop; ``clipnorm`` clips the global gradient norm across all variables. Under
    mixed precision, wrapped in Keras' dynamic loss scaling so float16 gradients do not underflow."""
    optimizer_class = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop}[
        config.optimizer
    ]
    optimizer = optimizer_class(learning_rate=config.learning_rate, global_clipnorm=config.clipnorm)
    if config.mixed_precision:
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def check_replicas(config: TrainingConfig, replicas: int) -> None:
    if config.batch_size % replicas:
        raise ConfigError(
            f"batch_size {config.batch_size} (global) is not divisible by the "
            f"{replicas} replicas; use a multiple of {replicas}"
        )


def _start_checkpoint(
    run_dir: Path,
    resume_from: Path | None,
    config: TrainingConfig,
    vocabulary: Vocabulary,
    corpus_sha256: str,
) -> ckpt.Checkpoint | None:
    """The checkpoint to continue from, or None for a fresh run (refusing to clobber old work)."""
    if resume_from is None:
        if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
            raise RunError(
                f"run directory {run_dir} is not empty; pass --resume to continue it "
                f"or choose a new --out"
            )
        return None
    resume_from = Path(resume_from)
    if (resume_from / runs.RUN_FILE).is_file() and not runs.epoch_checkpoints(resume_from):
        logger.info("%s has no finished epoch yet; starting it from the beginning", resume_from)
        return None
    checkpoint = runs.resume_checkpoint(resume_from)
    runs.check_resumable(checkpoint, config, vocabulary, corpus_sha256)
    return checkpoint


def _write_history_csv(run_dir: Path, history: list[dict]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=("epoch",) + METRIC_KEYS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(history)
    tmp = run_dir / f".{HISTORY_CSV}.tmp"
    tmp.write_text(out.getvalue(), encoding="utf-8")
    tmp.replace(run_dir / HISTORY_CSV)


def _best(history: list[dict]) -> dict | None:
    scored = [h for h in history if h.get("val_loss") is not None]
    return min(scored, key=lambda h: h["val_loss"]) if scored else None


def _run_record(
    config: TrainingConfig,
    corpus: Corpus,
    replicas: int,
    status: str,
    history: list[dict],
    created: str,
) -> dict:
    best = _best(history)
    return {
        "format": "charloom-run/1",
        "status": status,
        "config": config.to_dict(),
        "corpus": corpus.describe(),
        "replicas": replicas,
        "epochs_completed": history[-1]["epoch"] if history else 0,
        "best": {k: best[k] for k in ("epoch", "val_loss", "val_bpc") if k in best}
        if best
        else None,
        "history": history,
        "created": created,
        "updated": utc_now(),
    }


def _align_best(run_dir: Path, start: ckpt.Checkpoint) -> float:
    try:
        return runs.align_best(run_dir, start)
    except OSError as exc:
        raise RunError(
            f"cannot write {run_dir / runs.BEST_DIR}: {os_error_text(exc)}; free space and "
            "resume again"
        ) from None


def train(
    config: TrainingConfig,
    corpus: Corpus,
    run_dir: Path,
    *,
    replicas: int | None = None,
    strategy: tf.distribute.Strategy | None = None,
    resume_from: Path | None = None,
    on_epoch_end: Callable[[EpochEnd], None] | None = None,
    verbose: int = 1,
) -> TrainResult:
    """Train ``config`` on ``corpus`` into ``run_dir``; see the module docstring for the layout."""
    run_dir = Path(run_dir)
    # Everything that can be wrong with the input fails here, before any TensorFlow work.
    vocabulary, ids = build(corpus.text, config.tokenizer, config.min_count, config.max_vocab)
    split = split_ids(ids, config.validation_fraction)
    check_fits(len(split.train), config.seq_len, config.batch_size, "training")
    check_fits(len(split.validation), config.seq_len, config.batch_size, "validation")
    if replicas is not None:
        check_replicas(config, replicas)
    start = _start_checkpoint(run_dir, resume_from, config, vocabulary, corpus.sha256)
    history = list(start.history) if start else []
    initial_epoch = start.epoch if start else 0
    state = start.state if start else {}
    resumed_here = start is not None and (run_dir / runs.RUN_FILE).is_file()
    created = runs.read_run(run_dir).get("created", utc_now()) if resumed_here else utc_now()
    if start and (initial_epoch >= config.epochs or state.get("stopped_early")):
        logger.info(
            "%s already finished (%d epochs%s)",
            run_dir,
            initial_epoch,
            ", stopped early" if state.get("stopped_early") else "",
        )
        if resumed_here:
            _align_best(run_dir, start)  # a best/ copy that failed (a full disk) is made now
        return _result(run_dir, history, bool(state.get("stopped_early")), fallback=start.directory)

    strategy = strategy or _default_strategy(replicas)
    check_replicas(config, strategy.num_replicas_in_sync)
    run_dir.mkdir(parents=True, exist_ok=True)
    vocabulary.save(run_dir)
    best_val_loss = math.inf
    if start is not None:
        runs.discard_later_epochs(run_dir, start.epoch)
        best_val_loss = _align_best(run_dir, start)
    keras.utils.set_random_seed(config.seed)

    model = _compiled_model(config, vocabulary, strategy, start)
    steps = batches_per_epoch(
        len(split.train), config.seq_len, config.batch_size, config.steps_per_epoch
    )
    train_data = strategy.experimental_distribute_dataset(
        training_dataset(
            split.train,
            config.seq_len,
            config.batch_size,
            config.seed,
            first_epoch=initial_epoch,
            epochs=config.epochs,
            steps_per_epoch=config.steps_per_epoch,
        )
    )
    # Validation runs to the end of its (already capped) dataset, so its cache completes.
    val_data = strategy.experimental_distribute_dataset(
        validation_dataset(
            split.validation, config.seq_len, config.batch_size, steps=config.validation_steps
        )
    )

    def record(status: str) -> None:
        write_json_atomic(
            run_dir / runs.RUN_FILE,
            _run_record(config, corpus, strategy.num_replicas_in_sync, status, history, created),
        )

    def saved(epoch: int, metrics: dict, checkpoint_dir: Path) -> None:
        _write_history_csv(run_dir, history)
        record("running")
        if on_epoch_end is not None:
            on_epoch_end(
                EpochEnd(epoch=epoch, metrics=dict(metrics), checkpoint_dir=checkpoint_dir)
            )

    stateful = {}
    callbacks: list[keras.callbacks.Callback] = [
        EpochMetrics(
            chars_per_epoch=round(
                steps * config.batch_size * config.seq_len * len(corpus.text) / max(len(ids), 1)
            )
        ),
        keras.callbacks.TensorBoard(
            log_dir=str(run_dir / LOGS_DIR), update_freq="epoch", write_graph=False, profile_batch=0
        ),
    ]
    if config.reduce_lr_patience:
        stateful["reduce_lr"] = ResumableReduceLROnPlateau(
            restore=state.get("reduce_lr"),
            monitor="val_loss",
            factor=config.reduce_lr_factor,
            patience=config.reduce_lr_patience,
            min_lr=config.min_learning_rate,
        )
    if config.early_stopping_patience:
        stateful["early_stopping"] = ResumableEarlyStopping(
            restore=state.get("early_stopping"),
            monitor="val_loss",
            patience=config.early_stopping_patience,
        )
    callbacks += list(stateful.values())
    callbacks.append(
        CheckpointWriter(
            run_dir,
            config,
            vocabulary,
            history=history,
            source={"run": str(run_dir.resolve()), "corpus": corpus.describe()},
            keep=KEEP_CHECKPOINTS,
            stateful=stateful,
            on_saved=saved,
            best_val_loss=best_val_loss,
        )
    )
    record("running")
    try:
        model.fit(
            train_data,
            epochs=config.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps,
            validation_data=val_data,
            callbacks=callbacks,
            shuffle=False,
            verbose=verbose,
        )
    except KeyboardInterrupt:
        record("interrupted")
        raise
    stopped_early = bool(model.stop_training) and history[-1]["epoch"] < config.epochs
    record("stopped_early" if stopped_early else "completed")
    return _result(run_dir, history, stopped_early)


def _compiled_model(
    config: TrainingConfig,
    vocabulary: Vocabulary,
    strategy: tf.distribute.Strategy,
    start: ckpt.Checkpoint | None,
) -> keras.Model:
    """Build and compile under the strategy; on resume restore weights and optimizer state."""
    check_fits_in_memory(config, vocabulary.size)
    with strategy.scope():
        model = build_model(config, vocabulary.size)
        metrics: list[keras.metrics.Metric] = [
            keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        ]
        if (
            vocabulary.tokenizer != "char"
        ):  # a character model's bpc is its loss / ln 2 (EpochMetrics)
            metrics.append(BitsPerCharacter(vocabulary.token_lengths))
        model.compile(
            optimizer=make_optimizer(config),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=metrics,
            jit_compile=config.jit_compile,
        )
        if start:
            model.optimizer.build(
                model.trainable_variables
            )  # so load_weights restores its state too
            ckpt.load_weights(model, start)
            if start.config.learning_rate != config.learning_rate:  # e.g. perturbed by PBT
                model.optimizer.learning_rate = config.learning_rate
            logger.info("resuming from %s (epoch %d)", start.directory, start.epoch)
    return model


def _default_strategy(replicas: int | None) -> tf.distribute.Strategy:
    from trainer.devices import configure_strategy

    return configure_strategy(replicas)


def _result(
    run_dir: Path, history: list[dict], stopped_early: bool, fallback: Path | None = None
) -> TrainResult:
    best = _best(history)
    try:
        best_dir = runs.resolve_checkpoint(run_dir, prefer="best")
    except RunError:
        if fallback is None:
            raise
        best_dir = fallback  # a finished checkpoint "resumed" into an empty run directory
    return TrainResult(
        epochs_completed=history[-1]["epoch"] if history else 0,
        stopped_early=stopped_early,
        best_val_bpc=best["val_bpc"] if best and "val_bpc" in best else math.nan,
        best_checkpoint_dir=best_dir,
        history=history,
    )
