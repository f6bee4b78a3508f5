"""Export a model as the next integer version under a TensorFlow Serving model base path.

The SavedModel (with its warmup requests in ``assets.extra/``) is written to
``<base>/.tmp-<uuid>`` (not an integer, so a polling server ignores it) and renamed to
``<base>/<N>``, N one more than the highest existing version. Existing versions are never
overwritten.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import tensorflow as tf

from trainer.checkpoints import read_checkpoint
from trainer.jsonfile import utc_now
from trainer.model import load_model
from trainer.runs import resolve_checkpoint
from trainer.config import TrainingConfig
from trainer.errors import RunError
from trainer.export.signatures import CharModelSignatures
from trainer.vocabulary import Vocabulary
from trainer.export.warmup import write_warmup_file

logger = logging.getLogger(__name__)

METADATA_FORMAT = "charloom-model/1"
METADATA_FILE = "charloom.json"


def existing_versions(model_base_path: Path) -> list[int]:
    base = Path(model_base_path)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.name.isdigit() and p.is_dir())


def model_metadata(config: TrainingConfig, vocabulary: Vocabulary, metrics: dict | None,
                   source: dict | None) -> dict:
    return {"format": METADATA_FORMAT, "vocabulary": list(vocabulary.chars),
            "vocabulary_fingerprint": vocabulary.fingerprint, "config": config.to_dict(),
            "metrics": dict(metrics or {}), "source": dict(source or {}), "created": utc_now()}


def export_saved_model(model, config: TrainingConfig, vocabulary: Vocabulary, model_base_path: Path,
                       metadata: dict | None = None) -> Path:
    """Export an in-memory model; ``metadata`` may carry ``metrics`` and ``source`` dicts."""
    metadata = dict(metadata or {})
    base = Path(model_base_path)
    base.mkdir(parents=True, exist_ok=True)
    module = CharModelSignatures(model, config, vocabulary)
    document = model_metadata(config, vocabulary, metadata.get("metrics"), metadata.get("source"))
    tmp = base / f".tmp-{uuid.uuid4().hex}"
    with tempfile.TemporaryDirectory(prefix="charloom-assets-") as staging:
        (Path(staging) / METADATA_FILE).write_text(
            json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
        vocabulary.save(staging)
        module.metadata_asset = tf.saved_model.Asset(str(Path(staging) / METADATA_FILE))
        module.vocabulary_asset = tf.saved_model.Asset(str(Path(staging) / "vocabulary.json"))
        try:
            tf.saved_model.save(module, str(tmp), signatures=module.signatures())
            write_warmup_file(tmp, config)
            return _publish(tmp, base)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _publish(tmp: Path, base: Path) -> Path:
    """Rename the finished SavedModel to the next free version number."""
    version = (existing_versions(base) or [0])[-1] + 1
    while True:
        target = base / str(version)
        if not target.exists():
            try:
                os.rename(tmp, target)  # atomic; fails if another exporter just took the name
                logger.info("exported %s", target)
                return target
            except OSError:
                if not target.exists():
                    raise
        version += 1


def export_checkpoint(checkpoint_dir: Path, model_base_path: Path,
                      extra_metadata: dict | None = None) -> Path:
    """Export one checkpoint (or a run directory's best); ``extra_metadata`` joins ``source``."""
    checkpoint = read_checkpoint(resolve_checkpoint(checkpoint_dir, prefer="best"))
    model = load_model(checkpoint)
    metrics = {k: checkpoint.metrics[k] for k in ("val_bpc", "val_loss") if k in checkpoint.metrics}
    metrics["epoch"] = checkpoint.epoch
    source = {"run": checkpoint.source.get("run", str(checkpoint.directory.parent)),
              "checkpoint": str(checkpoint.directory.resolve()), **(extra_metadata or {})}
    return export_saved_model(model, checkpoint.config, checkpoint.vocabulary, model_base_path,
                              {"metrics": metrics, "source": source})


def export_run(run_dir: Path, model_base_path: Path) -> Path:
    """Export the run's best (lowest val_loss) checkpoint."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"run directory {run_dir} does not exist")
    return export_checkpoint(resolve_checkpoint(run_dir, prefer="best"), model_base_path)
