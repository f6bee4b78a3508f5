"""The Ray Tune trial: one `trainer.training.train` run that reports and checkpoints every epoch.

Ray gives the trial its GPUs through CUDA_VISIBLE_DEVICES; `configure_strategy` then mirrors
over exactly those. On CPU the trial may split its cores into logical devices (`replicas`).
A restarted trial (worker crash, a lost node, PBT exploit, experiment restore) resumes from the
checkpoint Ray hands back, so its epoch count continues instead of starting at zero. The trial
trains in a scratch directory of its node, removed when it ends; only its reported checkpoints
(and Ray's results) go to the storage path.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import ray
from ray import tune

from trainer.config import TrainingConfig
from trainer.corpus import Corpus

logger = logging.getLogger(__name__)


def train_trial(
    params: dict[str, Any], *, corpus: Corpus, replicas: int | None, threads: int | None
) -> None:
    """Function trainable: ``params`` is a full TrainingConfig mapping (constants + samples)."""
    from trainer.devices import configure_strategy

    config = TrainingConfig.from_mapping(params)
    strategy = configure_strategy(replicas=replicas, threads=threads)
    # The run directory is the trial's scratch space on its node, outside the trial directory:
    # for a function trainable that is the driver's staging folder, which Ray uploads to the
    # storage path while the trial prunes old epochs in it (uploads then failed on vanished
    # files, and every checkpoint went up twice). What outlives the trial is what it reports.
    scratch = Path(tempfile.mkdtemp(prefix=f"charloom-trial-{tune.get_context().get_trial_id()}-"))
    try:
        _train_in(scratch, config, corpus, strategy)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _train_in(scratch: Path, config: TrainingConfig, corpus: Corpus, strategy) -> None:
    from trainer.training import EpochEnd, train

    resume_dir = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        # Copy out of Ray's (possibly remote) storage: train() owns its run directory.
        resume_dir = scratch / "resume"
        with checkpoint.as_directory() as source:
            shutil.copytree(source, resume_dir)
        logger.info("trial %s resumes from %s", tune.get_context().get_trial_id(), checkpoint.path)

    def report(end: EpochEnd) -> None:
        metrics = {
            **end.metrics,
            "epoch": end.epoch,
            "pid": os.getpid(),
            "node": ray.get_runtime_context().get_node_id(),
            "replicas": strategy.num_replicas_in_sync,
        }
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(end.checkpoint_dir)))

    train(
        config,
        corpus,
        scratch / "run",
        strategy=strategy,
        resume_from=resume_dir,
        on_epoch_end=report,
        verbose=0,
    )
