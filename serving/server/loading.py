"""A loaded version (`Servable`), how one is loaded from its directory, and a load attempt with a
time limit."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tensorflow.core.protobuf import meta_graph_pb2

from serving.errors import ServingError
from serving.saved_model import SessionBundle, session_config, special_files
from serving.server.config import RuntimeOptions

logger = logging.getLogger(__name__)


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


def load_servable(
    name: str, version: int, path: Path, options: RuntimeOptions = RuntimeOptions()
) -> Servable:
    """Load a version directory into a Session (raises on any failure; the caller records it)."""
    blocking = special_files(path)
    if blocking:
        raise ServingError(
            f"{blocking[0]} is not a regular file or directory (a FIFO, socket, device or dangling "
            "link, whose read could block the load); only regular files are loaded"
        )
    started = time.monotonic()
    bundle = SessionBundle(
        path, session_config(options.intra_op_parallelism, options.inter_op_parallelism)
    )
    logger.info(
        "loaded %s version %d from %s in %.2fs (signatures: %s)",
        name,
        version,
        path,
        time.monotonic() - started,
        ", ".join(sorted(bundle.signature_defs)),
    )
    return Servable(name=name, version=version, path=path, bundle=bundle)


class LoadAttempt:
    """One load on its own thread, so that a load which never returns (a file whose read blocks)
    cannot hold the poller: past its time limit it is abandoned, and what it loads after that
    is released."""

    def __init__(self, load: Callable[[], Servable], description: str) -> None:
        self._load = load
        self._description = description
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._abandoned = False
        self.servable: Servable | None = None
        self.error: Exception | None = None
        threading.Thread(target=self._run, name="servable-load", daemon=True).start()

    def _run(self) -> None:
        servable, error = None, None
        try:
            servable = self._load()
        except Exception as exc:  # recorded by the poller
            error = exc
        with self._lock:
            if not self._abandoned:
                self.servable, self.error = servable, error
                self._finished.set()
                return
        logger.warning("%s finished after its time limit; released", self._description)
        if servable is not None:
            servable.release()

    def wait(self, timeout: float | None) -> bool:
        """Whether the load finished within `timeout`; if not, it is abandoned."""
        self._finished.wait(timeout)
        with self._lock:
            if not self._finished.is_set():
                self._abandoned = True
            return not self._abandoned
