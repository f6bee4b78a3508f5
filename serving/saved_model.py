"""One loaded model version: its callable signatures and their SignatureDefs.

SignatureDefs are read from `saved_model.pb` itself (the `serve` meta graph), not rebuilt from
the loaded functions, so GetModelMetadata returns exactly what TF Serving would.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

logger = logging.getLogger(__name__)

SERVE_TAG = "serve"
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


def is_saved_model_dir(path: Path) -> bool:
    return any((path / name).is_file() for name in SAVED_MODEL_FILES)


def read_signature_defs(path: Path) -> dict[str, meta_graph_pb2.SignatureDef]:
    """The signature_def map of the SavedModel's `serve` meta graph."""
    saved_model = saved_model_pb2.SavedModel()
    if (path / "saved_model.pb").is_file():
        saved_model.ParseFromString((path / "saved_model.pb").read_bytes())
    else:
        text_format.Parse((path / "saved_model.pbtxt").read_text(encoding="utf-8"), saved_model)
    for meta_graph in saved_model.meta_graphs:
        if SERVE_TAG in meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    raise ValueError(f"SavedModel {path} has no meta graph tagged {SERVE_TAG!r}")


@dataclass
class Servable:
    """A loaded version; `in_flight` counts requests holding it so unloading can wait for them."""

    name: str
    version: int
    path: Path
    signatures: Mapping[str, Any]
    signature_defs: Mapping[str, meta_graph_pb2.SignatureDef]
    keepalive: Any = None  # the loaded object owning the variables the signatures read
    in_flight: int = 0
    _idle: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def enter(self) -> None:
        with self._idle:
            self.in_flight += 1

    def leave(self) -> None:
        with self._idle:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no request holds this version; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self.in_flight == 0, timeout)


def load_servable(name: str, version: int, path: Path) -> Servable:
    """Load a version directory (raises on any failure; the caller records it)."""
    started = time.monotonic()
    signature_defs = read_signature_defs(path)
    loaded = tf.saved_model.load(str(path), tags=[SERVE_TAG])
    signatures = dict(loaded.signatures)
    logger.info("loaded %s version %d from %s in %.2fs (signatures: %s)", name, version, path,
                time.monotonic() - started, ", ".join(sorted(signatures)))
    return Servable(name=name, version=version, path=path, signatures=signatures,
                    signature_defs=signature_defs, keepalive=loaded)
