"""In-process training: run layout, metrics, exact resume, refusal to clobber, resume checks."""

import csv
import json

import numpy as np
import pytest

from trainer.callbacks import ResumableEarlyStopping, ResumableReduceLROnPlateau
from trainer.checkpoints import read_checkpoint
from trainer.config import TrainingConfig
from trainer.corpus import load_corpus
from trainer.errors import ConfigError, RunError
from trainer.model import load_model
from trainer.runs import epoch_checkpoints
from trainer.training import EpochEnd, train

pytestmark = pytest.mark.slow

CONFIG = TrainingConfig(
    cell="lstm",
    units=(16,),
    embedding_dim=8,
    seq_len=32,
    batch_size=16,
    learning_rate=0.01,
    epochs=4,
    steps_per_epoch=4,
    validation_steps=2,
    reduce_lr_patience=1,
    reduce_lr_factor=0.5,
    early_stopping_patience=3,
)


@pytest.fixture(scope="module")
def corpus(small_corpus):
    return load_corpus(str(small_corpus))


@pytest.fixture(scope="module")
def full_run(corpus, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "full"
    events: list[tuple[EpochEnd, object]] = []

    def hook(event: EpochEnd) -> None:  # the checkpoint is complete while the hook runs
        events.append((event, read_checkpoint(event.checkpoint_dir)))

    result = train(CONFIG, corpus, run_dir, on_epoch_end=hook, verbose=0)
    return run_dir, result, events


def test_run_directory_layout_and_metrics(full_run):
    run_dir, result, events = full_run
    assert result.epochs_completed == 4 and not result.stopped_early
    assert [e.epoch for e, _ in events] == [1, 2, 3, 4]
    for event, checkpoint in events:
        assert checkpoint.epoch == event.epoch and checkpoint.config == CONFIG
        assert {
            "loss",
            "accuracy",
            "bpc",
            "val_loss",
            "val_accuracy",
            "val_bpc",
            "chars_per_sec",
            "learning_rate",
        } <= set(event.metrics)
        assert event.metrics["bpc"] == pytest.approx(event.metrics["loss"] / np.log(2))
        assert event.metrics["chars_per_sec"] > 0
    assert [n for n, _ in epoch_checkpoints(run_dir)] == [2, 3, 4]  # the last three are kept
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "completed" and run["epochs_completed"] == 4 and run["replicas"] == 1
    best = min(run["history"], key=lambda h: h["val_loss"])
    assert run["best"]["epoch"] == best["epoch"] == read_checkpoint(run_dir / "best").epoch
    assert result.best_val_bpc == pytest.approx(best["val_bpc"])
    assert best["val_bpc"] < events[0][0].metrics["val_bpc"]  # it learns
    rows = list(csv.DictReader((run_dir / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert list((run_dir / "logs").rglob("events.out.tfevents*"))
    assert (run_dir / "vocabulary.json").is_file()


def test_resume_matches_an_uninterrupted_run(full_run, corpus, tmp_path):
    full_dir, full_result, _ = full_run
    run_dir = tmp_path / "resumed"
    first = train(CONFIG.replace(epochs=2), corpus, run_dir, verbose=0)
    assert first.epochs_completed == 2
    resumed = train(CONFIG, corpus, run_dir, resume_from=run_dir, verbose=0)
    assert resumed.epochs_completed == 4
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    for a, b in zip(full_result.history, resumed.history):
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-4)
        assert a["learning_rate"] == pytest.approx(b["learning_rate"])
    full_model = load_model(read_checkpoint(full_dir / "checkpoints" / "epoch-0004"))
    resumed_model = load_model(read_checkpoint(run_dir / "checkpoints" / "epoch-0004"))
    for a, b in zip(full_model.get_weights(), resumed_model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-4)
    # a finished run resumed again has nothing to do
    again = train(CONFIG, corpus, run_dir, resume_from=run_dir, verbose=0)
    assert again.epochs_completed == 4 and len(again.history) == 4


def test_plateau_callbacks_keep_their_counters_across_resume():
    early = ResumableEarlyStopping(
        restore={"wait": 2, "best": 1.5, "best_epoch": 3}, monitor="val_loss", patience=3
    )
    early.on_train_begin()
    assert (early.wait, early.best, early.best_epoch) == (2, 1.5, 3)
    plateau = ResumableReduceLROnPlateau(
        restore={"wait": 1, "best": 1.2, "cooldown_counter": 0}, monitor="val_loss", patience=2
    )
    plateau.on_train_begin()
    assert (plateau.wait, plateau.best) == (1, 1.2)


def test_refuses_to_clobber_and_checks_what_resumes(full_run, corpus, tmp_path):
    run_dir, _, _ = full_run
    with pytest.raises(RunError, match="not empty"):
        train(CONFIG, corpus, run_dir, verbose=0)
    with pytest.raises(ConfigError, match="units"):
        train(CONFIG.replace(units=[8]), corpus, run_dir, resume_from=run_dir, verbose=0)
    other = tmp_path / "other.txt"
    other.write_text(corpus.text + "\u00e9", encoding="utf-8")
    with pytest.raises(RunError, match="is not the one the checkpoint was trained on"):
        train(CONFIG, load_corpus(str(other)), run_dir, resume_from=run_dir, verbose=0)
    from trainer.corpus import (
        Corpus,
    )  # a corpus of unknown origin (no sha256 to compare): the vocabulary decides

    unknown = Corpus(text=corpus.text + "\u00e9", source="test", files=(), sha256="")
    with pytest.raises(RunError, match="vocabulary"):
        train(CONFIG, unknown, run_dir, resume_from=run_dir, verbose=0)
    with pytest.raises(RunError, match="neither a run directory"):
        train(CONFIG, corpus, tmp_path / "x", resume_from=tmp_path, verbose=0)
    with pytest.raises(ConfigError, match="fewer than one batch"):
        train(CONFIG.replace(seq_len=len(corpus.text)), corpus, tmp_path / "y", verbose=0)
    with pytest.raises(ConfigError, match="not divisible"):
        train(CONFIG.replace(batch_size=15), corpus, tmp_path / "z", replicas=2, verbose=0)
    assert not (tmp_path / "y").exists() and not (tmp_path / "z").exists()


def test_early_stopping_and_lr_plateau_on_val_loss(tmp_path):
    # Training text never shows "z" but the held-out tail is all "z": the better the model
    # learns its training text, the worse val_loss gets, epoch after epoch, whatever the corpus.
    from trainer.corpus import Corpus

    text = "ab" * 4000 + "z" * 1000
    corpus = Corpus(text=text, source="test", files=(), sha256="-")
    config = CONFIG.replace(
        learning_rate=0.05,
        epochs=6,
        steps_per_epoch=3,
        validation_fraction=0.11,
        early_stopping_patience=2,
        reduce_lr_patience=1,
    )
    result = train(config, corpus, tmp_path / "run", verbose=0)
    assert result.stopped_early and result.epochs_completed < 6
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "stopped_early"
    rates = [h["learning_rate"] for h in result.history]
    assert rates[0] == pytest.approx(0.05) and rates[-1] < rates[0]
    again = train(config, corpus, tmp_path / "run", resume_from=tmp_path / "run", verbose=0)
    assert again.stopped_early and again.epochs_completed == result.epochs_completed


def test_resume_may_change_learning_rate_and_dropout(corpus, tmp_path):
    run_dir = tmp_path / "run"
    train(CONFIG.replace(epochs=1), corpus, run_dir, verbose=0)
    changed = CONFIG.replace(epochs=2, learning_rate=0.003, dropout=0.2)
    result = train(changed, corpus, run_dir, resume_from=run_dir, verbose=0)
    assert [h["learning_rate"] for h in result.history] == pytest.approx([0.01, 0.003])
    assert read_checkpoint(run_dir / "checkpoints" / "epoch-0002").config == changed


def test_mixed_precision_trains_resumes_with_its_loss_scale_and_exports_float32(corpus, tmp_path):
    import keras

    from trainer.training import _compiled_model
    from trainer.vocabulary import Vocabulary

    config = CONFIG.replace(mixed_precision=True, epochs=2)
    run_dir = tmp_path / "mixed"
    first = train(config.replace(epochs=1), corpus, run_dir, verbose=0)
    resumed = train(config, corpus, run_dir, resume_from=run_dir, verbose=0)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    assert all(np.isfinite(h["val_bpc"]) for h in resumed.history)
    assert resumed.history[0]["val_bpc"] == pytest.approx(first.best_val_bpc)

    import tensorflow as tf

    model = _compiled_model(config, Vocabulary.from_text("abc"), tf.distribute.get_strategy(), None)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)

    exported = load_model(read_checkpoint(resumed.best_checkpoint_dir))
    assert {layer.compute_dtype for layer in exported.layers[1:]} == {"float32"}
    with pytest.raises(ConfigError, match="mixed_precision True -> False"):
        train(
            config.replace(mixed_precision=False, epochs=3),
            corpus,
            run_dir,
            resume_from=run_dir,
            verbose=0,
        )
