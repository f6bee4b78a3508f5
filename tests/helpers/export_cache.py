"""Exports made once per test run and shared by every test and xdist worker, deployed by copy.

An export costs ~5 s of CPU (five signatures traced, saved, loaded back). Most tests need one of
a few deterministic models (seeded weights), so `shared_export(key, export)` runs ``export`` once
per run for each ``key``, under a file lock in ``$CHARLOOM_TEST_EXPORTS`` (tests/conftest.py sets
it to a directory every worker of the run shares), and `deploy_copy` publishes a copy of it as the
next version of a model base path: copied beside the versions, then renamed, as an operator
deploys an export and as the exporter publishes one (TF Serving never sees a partial version).
The tests of the exporter itself export for real.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from trainer.export.publish import publish_version

CACHE_ENV = "CHARLOOM_TEST_EXPORTS"
READY_FILE = ".ready"


def shared_export(key: str, export: Callable[[Path], Path]) -> Path:
    """The version directory ``export(base)`` wrote, for an empty ``base``: made by the first caller
    of the run, the others wait for it. ``key`` must name every input of a deterministic export."""
    root = os.environ.get(CACHE_ENV)
    if not root:  # outside the test session: no sharing
        return export(Path(tempfile.mkdtemp(prefix="charloom-export-")) / "model")
    entry = Path(root) / hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
    Path(root).mkdir(parents=True, exist_ok=True)
    with open(f"{entry}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one exporter per key, across the workers' processes
        ready = entry / READY_FILE
        if not ready.is_file():
            shutil.rmtree(entry, ignore_errors=True)  # a worker that died mid-export
            version = export(entry / "model")
            ready.write_text(str(version.relative_to(entry)), encoding="utf-8")
        return entry / ready.read_text(encoding="utf-8")


def deploy_copy(version_dir: Path, model_base_path: Path) -> Path:
    """Publish a copy of ``version_dir`` as the next version under ``model_base_path``."""
    base = Path(model_base_path)
    base.mkdir(parents=True, exist_ok=True)
    staging = base / f".deploying-{uuid.uuid4().hex}"
    shutil.copytree(version_dir, staging)
    return publish_version(staging, base)


def seeded_export(key: str, make_model: Callable[[], object], config, vocabulary, metadata=None):
    """(model, version directory): ``make_model()`` built under a fixed seed, so every worker holds
    the same weights, and exported once per run under ``key`` (which must name the model)."""
    import keras

    from trainer.export import export_saved_model

    keras.utils.set_random_seed(0)
    model = make_model()
    path = shared_export(
        key, lambda base: export_saved_model(model, config, vocabulary, base, metadata)
    )
    return model, path
