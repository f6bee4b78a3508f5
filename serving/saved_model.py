"""One loaded model version, loaded and run the way TensorFlow Serving does it.

TF Serving's loader (``LoadSavedModel``) imports the ``serve`` meta graph into a graph, opens a
Session on it, runs the restore op named by the meta graph's ``saver_def`` on the ``variables/``
checkpoint and then the init op, and afterwards answers every request with ``Session::Run``:
inputs fed, and outputs fetched, by the SignatureDef's tensor names. TensorFlow's TF1 loader
does the same here, into a real Session, so a SavedModel whose variables the restore op does
not restore fails here exactly as it fails there. Nothing runs through the TF2 object graph.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2, meta_graph_pb2
from tensorflow.python.client import pywrap_tf_session
from tensorflow.python.saved_model.loader_impl import SavedModelLoader

from serving.model_config import RuntimeOptions

logger = logging.getLogger(__name__)

SERVE_TAG = "serve"
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


def is_saved_model_dir(path: Path) -> bool:
    return any((path / name).is_file() for name in SAVED_MODEL_FILES)


def session_config(options: RuntimeOptions) -> config_pb2.ConfigProto:
    return config_pb2.ConfigProto(intra_op_parallelism_threads=options.intra_op_parallelism,
                                  inter_op_parallelism_threads=options.inter_op_parallelism,
                                  allow_soft_placement=True)


class SessionBundle:
    """A Session holding one SavedModel's ``serve`` meta graph, restored and initialised."""

    def __init__(self, path: Path, options: RuntimeOptions = RuntimeOptions()) -> None:
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph, config=session_config(options))
        try:
            with self.graph.as_default():
                meta_graph = SavedModelLoader(str(path)).load(self.session, [SERVE_TAG])
        except BaseException:
            self.session.close()
            raise
        self.meta_graph: meta_graph_pb2.MetaGraphDef = meta_graph
        self._outputs: dict[str, object] = {}
        self._lock = threading.Lock()

    @property
    def signature_defs(self) -> Mapping[str, meta_graph_pb2.SignatureDef]:
        return self.meta_graph.signature_def

    def handle(self, tensor_name: str) -> object:
        """The C API handle of a graph tensor, looked up once (KeyError if the graph lacks it)."""
        found = self._outputs.get(tensor_name)
        if found is None:
            with self._lock:
                found = self.graph.get_tensor_by_name(tensor_name)._as_tf_output()  # noqa: SLF001
                self._outputs[tensor_name] = found
        return found

    def run(self, feeds: Mapping[str, np.ndarray], fetches: Sequence[str],
            timeout_seconds: float | None = None) -> list[np.ndarray]:
        """``Session::Run`` by tensor names, as TF Serving calls it: no shape or dtype checks of its
        own (the runtime makes them). A timeout cancels the step with DEADLINE_EXCEEDED, as TF
        Serving's RunOptions derived from the RPC deadline do. Raises tf.errors.OpError."""
        options = None
        if timeout_seconds is not None:
            run_options = config_pb2.RunOptions(timeout_in_ms=max(1, int(timeout_seconds * 1000)))
            options = pywrap_tf_session.TF_NewBufferFromString(run_options.SerializeToString())
        try:
            feed_handles = {self.handle(name): value for name, value in feeds.items()}
            fetch_handles = [self.handle(name) for name in fetches]
            return self.session._call_tf_sessionrun(  # noqa: SLF001 - the C API call, without Python's shape checks
                options, feed_handles, fetch_handles, [], None)
        finally:
            if options is not None:
                pywrap_tf_session.TF_DeleteBuffer(options)

    def close(self) -> None:
        self.session.close()


@dataclass
class Servable:
    """A loaded version; `in_flight` counts requests holding it so unloading can wait for them."""

    name: str
    version: int
    path: Path
    bundle: SessionBundle
    in_flight: int = 0
    _idle: threading.Condition = field(default_factory=threading.Condition, repr=False)

    @property
    def signature_defs(self) -> Mapping[str, meta_graph_pb2.SignatureDef]:
        return self.bundle.signature_defs

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

    def release(self) -> None:
        self.bundle.close()


def load_servable(name: str, version: int, path: Path, options: RuntimeOptions = RuntimeOptions()) -> Servable:
    """Load a version directory into a Session (raises on any failure; the caller records it)."""
    started = time.monotonic()
    bundle = SessionBundle(path, options)
    logger.info("loaded %s version %d from %s in %.2fs (signatures: %s)", name, version, path,
                time.monotonic() - started, ", ".join(sorted(bundle.signature_defs)))
    return Servable(name=name, version=version, path=path, bundle=bundle)
