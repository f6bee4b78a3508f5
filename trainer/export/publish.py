"""Export a model as the next integer version under a TensorFlow Serving model base path.

The SavedModel (with its warmup requests in ``assets.extra/``) is written to
``<base>/.tmp-<pid>-<uuid>`` (not an integer, so a polling server ignores it), loaded once the way TF
Serving loads it (a Session: restore op, init op), flushed to disk, and renamed to
``<base>/<N>``, N one more than the highest existing version. Existing versions are never
overwritten. A checkpoint is exported from a verified copy, so a run that replaces ``best/``
meanwhile cannot pair one epoch's metadata with another's weights.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import tensorflow as tf

from serving.saved_model import SessionBundle, version_number
from trainer.checkpoints import Checkpoint, intact_checkpoint
from trainer.config import TrainingConfig
from trainer.durable import disk_full, fsync_path, fsync_tree, os_error_text
from trainer.errors import ExportError, RunError
from trainer.export.signatures import CharModelSignatures
from trainer.export.warmup import write_warmup_file
from trainer.jsonfile import utc_now
from trainer.model import inference_model, load_model
from trainer.runs import resolve_checkpoint
from trainer.vocabulary import Vocabulary

logger = logging.getLogger(__name__)

METADATA_FORMAT = "charloom-model/1"
METADATA_FILE = "charloom.json"


SNAPSHOT_ATTEMPTS = 3  # copies of a checkpoint tried while training may be replacing it
STAGING_PREFIX = ".tmp-"  # <base>/.tmp-<pid>-<uuid>: an export being written
ABANDONED_AFTER_SECONDS = 86_400.0


def existing_versions(model_base_path: Path) -> list[int]:
    base = Path(model_base_path)
    if not base.is_dir():
        return []
    return sorted(
        v for p in base.iterdir() if (v := version_number(p.name)) is not None and p.is_dir()
    )


def prepare_model_base_path(model_base_path: Path | str) -> Path:
    """The model base path as a writable local directory (created), or an ExportError."""
    text = str(model_base_path)
    if "://" in text:
        raise ExportError(
            f"model base path {text} is a URL; charloom export writes to a local or mounted "
            "directory: export there and copy the version directory to the bucket"
        )
    base = Path(text)
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create model base path {base}: {exc.strerror}") from None
    if not os.access(base, os.W_OK | os.X_OK):
        raise ExportError(f"model base path {base} is not writable")
    return base


def model_metadata(
    config: TrainingConfig, vocabulary: Vocabulary, metrics: dict | None, source: dict | None
) -> dict:
    return {
        "format": METADATA_FORMAT,
        "tokenizer": vocabulary.tokenizer,
        "vocabulary": list(vocabulary.tokens),
        "vocabulary_fingerprint": vocabulary.fingerprint,
        "config": config.to_dict(),
        "metrics": dict(metrics or {}),
        "source": dict(source or {}),
        "created": utc_now(),
    }


def export_saved_model(
    model,
    config: TrainingConfig,
    vocabulary: Vocabulary,
    model_base_path: Path,
    metadata: dict | None = None,
) -> Path:
    """Export an in-memory model (a mixed-precision one as its float32 twin); ``metadata`` may
    carry ``metrics`` and ``source`` dicts."""
    metadata = dict(metadata or {})
    base = prepare_model_base_path(model_base_path)
    module = CharModelSignatures(
        inference_model(model, config, vocabulary.size), config, vocabulary
    )
    document = model_metadata(config, vocabulary, metadata.get("metrics"), metadata.get("source"))
    remove_abandoned_staging(base)
    tmp = base / f"{STAGING_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
    with tempfile.TemporaryDirectory(prefix="charloom-assets-") as staging:
        (Path(staging) / METADATA_FILE).write_text(
            json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8"
        )
        vocabulary.save(staging)
        module.metadata_asset = tf.saved_model.Asset(str(Path(staging) / METADATA_FILE))
        module.vocabulary_asset = tf.saved_model.Asset(str(Path(staging) / "vocabulary.json"))
        try:
            try:
                tf.saved_model.save(module, str(tmp), signatures=module.signatures())
                write_warmup_file(tmp, config, vocabulary.size)
            except OSError as exc:
                raise ExportError(
                    f"cannot write the export under {base}: {os_error_text(exc)}"
                ) from None
            except tf.errors.OpError as exc:  # TensorFlow's own writes: a full disk, most often
                raise ExportError(
                    f"cannot write the export under {base}: {exc.message.splitlines()[0][:300]}"
                ) from None
            _check_loads(tmp)
            fsync_tree(tmp)
            return publish_version(tmp, base)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def remove_abandoned_staging(base: Path) -> None:
    """Delete staging directories of exports that were killed: those of a process of this
    machine that no longer runs, and those older than a day without a process id (the names
    earlier versions wrote). A running export's staging is left alone."""
    for path in base.glob(f"{STAGING_PREFIX}*"):
        owner, separator, _ = path.name[len(STAGING_PREFIX) :].partition("-")
        if separator and owner.isdigit() and len(owner) <= 9:
            try:
                os.kill(int(owner), 0)
                continue  # its exporter still runs
            except ProcessLookupError:
                pass
            except OSError:
                continue  # another user's process: left alone
        else:
            try:
                if time.time() - path.stat().st_mtime < ABANDONED_AFTER_SECONDS:
                    continue
            except OSError:
                continue
        logger.info("removing %s, left by an export that was killed", path)
        shutil.rmtree(path, ignore_errors=True)


def _check_loads(path: Path) -> None:
    """Load the export into a Session, as TF Serving will, before any server can see it."""
    try:
        SessionBundle(path).close()
    except Exception as exc:  # noqa: BLE001 - whatever fails here would fail in TF Serving
        raise ExportError(
            f"the export does not load the way TF Serving loads it: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from exc


def publish_version(tmp: Path, base: Path) -> Path:
    """Rename a finished SavedModel directory (on the same filesystem, under ``base``) to the next
    free version number of ``base``: TF Serving never sees a half-written version."""
    version = (existing_versions(base) or [0])[-1] + 1
    while True:
        target = base / str(version)
        if not target.exists():
            try:
                os.rename(tmp, target)  # atomic; fails if another exporter just took the name
                fsync_path(base)
                logger.info("exported %s", target)
                return target
            except OSError:
                if not target.exists():
                    raise
        version += 1


def export_checkpoint(
    checkpoint_dir: Path, model_base_path: Path, extra_metadata: dict | None = None
) -> Path:
    """Export one checkpoint (or a run directory's best); ``extra_metadata`` joins ``source``."""
    directory = resolve_checkpoint(checkpoint_dir, prefer="best")
    prepare_model_base_path(model_base_path)  # before any TensorFlow work
    with tempfile.TemporaryDirectory(prefix="charloom-export-") as scratch:
        checkpoint = _snapshot(directory, Path(scratch))
        model = load_model(checkpoint)
    metrics = {k: checkpoint.metrics[k] for k in ("val_bpc", "val_loss") if k in checkpoint.metrics}
    metrics["epoch"] = checkpoint.epoch
    source = {
        "run": checkpoint.source.get("run", str(directory.parent)),
        "checkpoint": str(directory.resolve()),
        **(extra_metadata or {}),
    }
    return export_saved_model(
        model,
        checkpoint.config,
        checkpoint.vocabulary,
        model_base_path,
        {"metrics": metrics, "source": source},
    )


def _snapshot(directory: Path, scratch: Path) -> Checkpoint:
    """A copy of the checkpoint whose weights match its metadata (training may replace it while
    it is copied: then it is copied again)."""
    attempt = 1
    while True:
        copy = scratch / f"copy-{attempt}"
        try:
            shutil.copytree(directory, copy)
            return intact_checkpoint(copy)
        except (RunError, OSError) as exc:
            if isinstance(exc, OSError) and disk_full(exc):
                raise ExportError(
                    f"cannot copy checkpoint {directory} to {scratch}: {os_error_text(exc)}"
                ) from None
            if attempt == SNAPSHOT_ATTEMPTS:
                intact_checkpoint(directory)  # the original's own error, naming it
                raise RunError(
                    f"checkpoint {directory} kept changing while it was copied: {exc}"
                ) from None
        logger.info("checkpoint %s changed while being copied; copying again", directory)
        time.sleep(0.5 * attempt)
        attempt += 1


def export_run(run_dir: Path, model_base_path: Path) -> Path:
    """Export the run's best (lowest val_loss) checkpoint."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"run directory {run_dir} does not exist")
    return export_checkpoint(resolve_checkpoint(run_dir, prefer="best"), model_base_path)
