"""Nothing lost on a full disk (a real tmpfs filled up): training stops with one line naming the
problem, a resume after space is freed ends where an uninterrupted run would (best/ included),
an export fails cleanly with no partial version, and killed exports' staging is cleaned."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.tmpfs import leave_free, small_tmpfs, tree_bytes
from trainer import runs
from trainer.checkpoints import intact_checkpoint, read_checkpoint
from trainer.config import TrainingConfig
from trainer.corpus import load_corpus
from trainer.errors import ExportError, RunError
from trainer.export.publish import existing_versions, export_checkpoint
from trainer.training import train

pytestmark = pytest.mark.slow

CONFIG = TrainingConfig(
    units=(64,),
    embedding_dim=16,
    seq_len=16,
    batch_size=8,
    learning_rate=0.01,
    epochs=2,
    steps_per_epoch=6,
    validation_steps=2,
    early_stopping_patience=None,
    reduce_lr_patience=None,
)


def leftovers(run_dir: Path) -> list[Path]:
    return [p for p in run_dir.rglob("*") if p.name.startswith((".tmp-", ".old-"))]


def test_a_full_disk_when_best_is_copied_then_resume_writes_it(small_corpus, tmp_path):
    corpus = load_corpus(str(small_corpus))
    with small_tmpfs(tmp_path / "disk", 64 * 1024 * 1024) as disk:
        run_dir = disk / "run"
        fillers = []

        def fill_after_first_epoch(end) -> None:
            if end.epoch == 1:  # room for epoch 2's checkpoint, not for its copy into best/
                fillers.append(leave_free(disk, int(tree_bytes(end.checkpoint_dir) * 1.5)))

        with pytest.raises(RunError, match="cannot save epoch 2 .* No space left on device"):
            train(CONFIG, corpus, run_dir, on_epoch_end=fill_after_first_epoch, verbose=0)
        second = intact_checkpoint(runs.epoch_dir(run_dir, 2))
        assert second.metrics["val_loss"] < second.history[0]["val_loss"]  # best/ was due a copy
        assert read_checkpoint(run_dir / runs.BEST_DIR).epoch == 1  # the copy failed
        assert not leftovers(run_dir)
        fillers[0].unlink()
        result = train(CONFIG, corpus, run_dir, resume_from=run_dir, verbose=0)
        assert [h["epoch"] for h in result.history] == [1, 2]
        best = read_checkpoint(run_dir / runs.BEST_DIR)
        assert best.epoch == 2 and best.metrics == second.metrics
        assert not leftovers(run_dir)


def test_an_export_onto_a_full_disk_fails_cleanly_and_killed_exports_are_cleaned(
    small_corpus, tmp_path
):
    corpus = load_corpus(str(small_corpus))
    run_dir = tmp_path / "run"
    train(CONFIG.replace(epochs=1), corpus, run_dir, verbose=0)
    with small_tmpfs(tmp_path / "disk", 32 * 1024 * 1024) as disk:
        base = disk / "models"
        base.mkdir()
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
        dead = base / f".tmp-{pid_max + 1}-0123abcd"  # no process can have that id
        live = base / f".tmp-{os.getpid()}-4567cdef"  # an export running now
        dead.mkdir()
        live.mkdir()
        filler = leave_free(disk, 64 * 1024)
        with pytest.raises(ExportError, match="cannot write the export under .*"):
            export_checkpoint(run_dir, base)
        assert existing_versions(base) == []
        assert sorted(p.name for p in base.iterdir()) == [live.name]  # nothing partial left
        filler.unlink()
        version = export_checkpoint(run_dir, base)
        assert version.name == "1" and live.is_dir()
