"""A SavedModel loaded and run the way TensorFlow Serving does it (the server and the in-process
client backend both use it).

TF Serving's loader (``LoadSavedModel``) imports the ``serve`` meta graph into a graph, opens a
Session on it, runs the restore op named by the meta graph's ``saver_def`` on the ``variables/``
checkpoint and then the init op, and afterwards answers every request with ``Session::Run``:
inputs fed, and outputs fetched, by the SignatureDef's tensor names. TensorFlow's TF1 loader
does the same here, into a real Session, so a SavedModel whose variables the restore op does
not restore fails here exactly as it fails there. Nothing runs through the TF2 object graph.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2, meta_graph_pb2
from tensorflow.python.client import pywrap_tf_session
from tensorflow.python.saved_model.loader_impl import SavedModelLoader

from serving.contract import MAX_VERSION

logger = logging.getLogger(__name__)

SERVE_TAG = "serve"
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


def version_number(name: str) -> int | None:
    """The version a directory name stands for: ASCII digits only (``'²'`` or ``'1.5'`` is no
    version), at most int64's largest value (TF Serving's ``safe_strto64`` refuses the rest)."""
    if not name or not name.isascii() or not name.isdigit():
        return None
    if len(name.lstrip("0")) > len(str(MAX_VERSION)):
        return None  # before int(): thousands of digits must not cost a conversion
    version = int(name)
    return version if version <= MAX_VERSION else None


def special_files(path: Path) -> list[Path]:
    """Entries under `path` that are neither regular files nor directories once links are
    followed (FIFOs, sockets, devices, dangling links): reading one may block forever."""
    found = []
    for root, directories, files in os.walk(path):
        for name in (*directories, *files):
            entry = Path(root, name)
            try:
                mode = entry.stat().st_mode
            except OSError:
                found.append(entry)
                continue
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                found.append(entry)
    return found


def is_saved_model_dir(path: Path) -> bool:
    return any((path / name).is_file() for name in SAVED_MODEL_FILES)


def session_config(
    intra_op_parallelism: int = 0, inter_op_parallelism: int = 0
) -> config_pb2.ConfigProto:
    """TF Serving's --tensorflow_intra_op_parallelism / --tensorflow_inter_op_parallelism (0: a
    thread per core)."""
    return config_pb2.ConfigProto(
        intra_op_parallelism_threads=intra_op_parallelism,
        inter_op_parallelism_threads=inter_op_parallelism,
        allow_soft_placement=True,
    )


class SessionBundle:
    """A Session holding one SavedModel's ``serve`` meta graph, restored and initialised."""

    def __init__(self, path: Path, config: config_pb2.ConfigProto | None = None) -> None:
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph, config=config or session_config())
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

    def run(
        self,
        feeds: Mapping[str, np.ndarray],
        fetches: Sequence[str],
        timeout_seconds: float | None = None,
    ) -> list[np.ndarray]:
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
                options, feed_handles, fetch_handles, [], None
            )
        finally:
            if options is not None:
                pywrap_tf_session.TF_DeleteBuffer(options)

    def close(self) -> None:
        self.session.close()
