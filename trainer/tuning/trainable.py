"""The Ray Tune trial: one `trainer.training.train` run that reports and checkpoints every epoch.

Ray gives the trial its GPUs through CUDA_VISIBLE_DEVICES; `configure_strategy` then mirrors
over exactly those. On CPU the trial may split its cores into logical devices (`replicas`).
A restarted trial (worker crash, PBT exploit, experiment restore) resumes from the checkpoint
Ray hands back, so its epoch count continues instead of starting at zero.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ray import tune

from trainer.config import TrainingConfig
from trainer.corpus import Corpus

logger = logging.getLogger(__name__)


def train_trial(
    params: dict[str, Any], *, corpus: Corpus, replicas: int | None, threads: int | None
) -> None:
    """Function trainable: ``params`` is a full TrainingConfig mapping (constants + samples)."""
    from trainer.devices import configure_strategy
    from trainer.training import EpochEnd, train

    config = TrainingConfig.from_mapping(params)
    strategy = configure_strategy(replicas=replicas, threads=threads)
    trial_dir = Path(tune.get_context().get_trial_dir())
    run_dir = trial_dir / "run"
    resume_dir = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        # Copy out of Ray's (possibly remote) storage: train() owns its run directory.
        resume_dir = Path(tempfile.mkdtemp(prefix="resume-", dir=trial_dir))
        with checkpoint.as_directory() as source:
            shutil.copytree(source, resume_dir, dirs_exist_ok=True)
        logger.info("trial %s resumes from %s", tune.get_context().get_trial_id(), checkpoint.path)
    if run_dir.exists() and resume_dir is None:
        shutil.rmtree(run_dir)  # a restart without checkpoint starts clean

    def report(end: EpochEnd) -> None:
        metrics = {
            **end.metrics,
            "epoch": end.epoch,
            "pid": os.getpid(),
            "replicas": strategy.num_replicas_in_sync,
        }
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(end.checkpoint_dir)))

    train(
        config,
        corpus,
        run_dir,
        strategy=strategy,
        resume_from=resume_dir,
        on_epoch_end=report,
        verbose=0,
    )
    if resume_dir is not None:
        shutil.rmtree(resume_dir, ignore_errors=True)
