"""Nothing is lost on a crash: damaged checkpoints are skipped, a resumed run drops another
history's future, the checkpoint just written is never pruned, and resume checks the corpus."""

from __future__ import annotations

import logging
import os

import pytest

from trainer import runs
from trainer.checkpoints import intact_checkpoint, read_checkpoint, verify_weights
from trainer.config import TrainingConfig
from trainer.corpus import load_corpus
from trainer.errors import RunError
from trainer.training import EpochEnd, train

pytestmark = pytest.mark.slow

CONFIG = TrainingConfig(
    cell="gru",
    units=(8,),
    embedding_dim=4,
    seq_len=16,
    batch_size=8,
    learning_rate=0.01,
    epochs=3,
    steps_per_epoch=2,
    validation_steps=1,
)


@pytest.fixture(scope="module")
def corpus(small_corpus):
    return load_corpus(str(small_corpus))


def truncate(path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(size // 2)


def test_a_truncated_newest_checkpoint_resumes_from_the_older_intact_one(corpus, tmp_path, caplog):
    run_dir = tmp_path / "run"
    train(CONFIG, corpus, run_dir, verbose=0)
    newest = runs.epoch_dir(run_dir, 3)
    truncate(newest / "model.weights.h5")
    with pytest.raises(RunError, match="model.weights.h5 does not match checkpoint.json"):
        verify_weights(read_checkpoint(newest))
    with caplog.at_level(logging.WARNING, logger="trainer.runs"):
        result = train(CONFIG.replace(epochs=4), corpus, run_dir, resume_from=run_dir, verbose=0)
    assert "resuming from the older intact checkpoint" in caplog.text
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]
    assert intact_checkpoint(runs.epoch_dir(run_dir, 3)).epoch == 3  # rewritten, intact


def test_no_intact_checkpoint_is_a_clear_error(corpus, tmp_path):
    run_dir = tmp_path / "run"
    train(CONFIG.replace(epochs=1), corpus, run_dir, verbose=0)
    truncate(runs.epoch_dir(run_dir, 1) / "model.weights.h5")
    with pytest.raises(RunError, match="has no intact checkpoint to resume from"):
        train(CONFIG, corpus, run_dir, resume_from=run_dir, verbose=0)


def test_a_clone_drops_the_stale_future_and_never_reports_a_pruned_checkpoint(corpus, tmp_path):
    """A PBT exploit: trial B (already at epoch 3) continues from trial A's epoch 1."""
    donor, run_dir = tmp_path / "a", tmp_path / "b"
    train(CONFIG.replace(epochs=1, learning_rate=0.05), corpus, donor, verbose=0)
    train(CONFIG, corpus, run_dir, verbose=0)
    reported: list[EpochEnd] = []

    def report(end: EpochEnd) -> None:
        assert end.checkpoint_dir.is_dir(), (
            f"{end.checkpoint_dir} was deleted before it was reported"
        )
        reported.append(end)

    result = train(
        CONFIG.replace(epochs=2),
        corpus,
        run_dir,
        resume_from=runs.epoch_dir(donor, 1),
        on_epoch_end=report,
        verbose=0,
    )
    assert [e.epoch for e in reported] == [2]
    assert reported[0].checkpoint_dir.is_dir()
    assert [n for n, _ in runs.epoch_checkpoints(run_dir)] == [1, 2]  # B's epoch 3 is gone
    best = read_checkpoint(run_dir / runs.BEST_DIR)
    assert best.epoch <= 2
    assert best.metrics["val_loss"] in [h["val_loss"] for h in result.history]
    assert runs.resume_checkpoint(run_dir).epoch == 2


def test_pruning_spares_the_checkpoint_just_written(tmp_path):
    root = tmp_path / runs.CHECKPOINTS_DIR
    for epoch in (1, 5, 6, 7):
        (root / f"epoch-{epoch:04d}").mkdir(parents=True)
        (root / f"epoch-{epoch:04d}" / "checkpoint.json").write_text("{}")
    runs.prune_checkpoints(tmp_path, keep=2, protect=root / "epoch-0001")
    assert [n for n, _ in runs.epoch_checkpoints(tmp_path)] == [1, 6, 7]


def test_resume_refuses_another_corpus_with_the_same_characters(corpus, tmp_path):
    run_dir = tmp_path / "run"
    train(CONFIG.replace(epochs=1), corpus, run_dir, verbose=0)
    shuffled = tmp_path / "shuffled.txt"
    lines = corpus.text.splitlines(keepends=True)
    shuffled.write_text("".join(reversed(lines)), encoding="utf-8")
    other = load_corpus(str(shuffled))
    assert set(other.text) == set(corpus.text) and other.sha256 != corpus.sha256
    with pytest.raises(RunError, match="is not the one the checkpoint was trained on"):
        train(CONFIG, other, run_dir, resume_from=run_dir, verbose=0)


def test_checkpoints_are_flushed_before_they_are_published(corpus, tmp_path, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    run_dir = tmp_path / "run"
    train(CONFIG.replace(epochs=1), corpus, run_dir, verbose=0)
    assert any(p.endswith("model.weights.h5") for p in synced)
    assert any(p.endswith("checkpoint.json") for p in synced)
    assert str(run_dir / runs.CHECKPOINTS_DIR) in synced  # the rename itself


def test_a_checkpoint_write_that_fails_leaves_the_previous_one_and_no_partial_directory(
    corpus, tmp_path
):
    from trainer.checkpoints import write_checkpoint
    from trainer.model import build_model
    from trainer.vocabulary import Vocabulary

    vocabulary = Vocabulary.from_text(corpus.text)
    model = build_model(CONFIG, vocabulary.size)
    target = tmp_path / "checkpoints" / "epoch-1"
    write_checkpoint(target, model, CONFIG, vocabulary, epoch=1)

    class DiskFull:
        def save_weights(self, path):
            with open(path, "wb") as handle:
                handle.write(b"partial")
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_checkpoint(target, DiskFull(), CONFIG, vocabulary, epoch=2)
    assert sorted(p.name for p in target.parent.iterdir()) == ["epoch-1"]
    assert read_checkpoint(target).epoch == 1
    verify_weights(read_checkpoint(target))
