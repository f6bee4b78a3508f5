"""One measured training run in its own process (logical CPU devices are fixed at TF start-up).

    python -m bench.lib.training_worker --mode charloom|plain|plain-mirrored --replicas N --config C
        --steps S --epochs E

Prints one line ``RESULT {json}``: per-epoch training characters/s (validation excluded) and
epoch wall seconds, for ``charloom train`` (trainer.training.train) or a plain ``model.fit``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


class EpochTimer:
    """Training seconds per epoch (start -> validation start) and whole-epoch seconds."""

    def __new__(cls):
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.train_seconds: list[float] = []
                self.epoch_seconds: list[float] = []
                self._started = 0.0
                self._train: float | None = None

            def on_epoch_begin(self, epoch, logs=None):
                self._started, self._train = time.perf_counter(), None

            def on_test_begin(self, logs=None):
                if self._train is None:
                    self._train = time.perf_counter() - self._started

            def on_epoch_end(self, epoch, logs=None):
                elapsed = time.perf_counter() - self._started
                self.train_seconds.append(self._train or elapsed)
                self.epoch_seconds.append(elapsed)

        return _Timer()


def run_charloom(config, corpus, replicas: int) -> dict:
    from trainer.devices import configure_strategy
    from trainer.training import train

    strategy = configure_strategy(replicas)
    with tempfile.TemporaryDirectory(prefix="charloom-bench-train-") as tmp:
        started = time.perf_counter()
        result = train(config, corpus, Path(tmp) / "run", strategy=strategy, verbose=0)
        total = time.perf_counter() - started
    return {
        "chars_per_sec": [h["chars_per_sec"] for h in result.history],
        "epoch_seconds": [h["epoch_seconds"] for h in result.history],
        "total_seconds": total,
        "val_bpc": [h.get("val_bpc") for h in result.history],
    }


def run_plain(config, corpus, strategy=None) -> dict:
    """The tutorial's way: build, compile, model.fit on the same datasets, no callbacks; with
    ``strategy``, the model is built and compiled in its scope (to isolate the strategy's cost)."""
    import contextlib

    import keras

    from trainer.dataset import split_ids, training_dataset, validation_dataset
    from trainer.model import build_model
    from trainer.training import make_optimizer
    from trainer.vocabulary import Vocabulary

    vocabulary = Vocabulary.from_text(corpus.text)
    split = split_ids(vocabulary.encode(corpus.text), config.validation_fraction)
    keras.utils.set_random_seed(config.seed)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = build_model(config, vocabulary.size)
        model.compile(
            optimizer=make_optimizer(config),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
    train_data = training_dataset(
        split.train,
        config.seq_len,
        config.batch_size,
        config.seed,
        first_epoch=0,
        epochs=config.epochs,
        steps_per_epoch=config.steps_per_epoch,
    )
    val_data = validation_dataset(
        split.validation, config.seq_len, config.batch_size, steps=config.validation_steps
    )
    timer = EpochTimer()
    started = time.perf_counter()
    history = model.fit(
        train_data,
        epochs=config.epochs,
        steps_per_epoch=config.steps_per_epoch,
        validation_data=val_data,
        callbacks=[timer],
        shuffle=False,
        verbose=0,
    )
    total = time.perf_counter() - started
    chars = config.steps_per_epoch * config.batch_size * config.seq_len
    return {
        "chars_per_sec": [chars / s for s in timer.train_seconds],
        "epoch_seconds": timer.epoch_seconds,
        "total_seconds": total,
        "val_bpc": [v / 0.6931471805599453 for v in history.history["val_loss"]],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("charloom", "plain", "plain-mirrored"), required=True)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--config", default="tutorial-gru1024")
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--validation-steps", type=int, default=2)
    args = parser.parse_args()

    from trainer.config import load_config
    from trainer.corpus import load_corpus

    config = load_config(
        args.config,
        {
            "epochs": args.epochs,
            "steps_per_epoch": args.steps,
            "validation_steps": args.validation_steps,
            "early_stopping_patience": None,
            "reduce_lr_patience": None,
        },
    )
    corpus = load_corpus("shakespeare")
    if args.mode == "charloom":
        result = run_charloom(config, corpus, args.replicas)
    elif args.mode == "plain-mirrored":
        # A MirroredStrategy even on one device: what `charloom train` used before it switched to
        # the default strategy for a single device (the cost that switch removed).
        import tensorflow as tf

        result = run_plain(config, corpus, tf.distribute.MirroredStrategy(devices=["/cpu:0"]))
    else:
        result = run_plain(config, corpus)
    print(
        "RESULT " + json.dumps({"mode": args.mode, "replicas": args.replicas, **result}), flush=True
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
