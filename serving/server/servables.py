"""Version discovery, loading, polling and hot swap of every configured model.

Like TF Serving's availability-preserving policy: a new version is loaded and made available
before an old one stops receiving requests, and the old one is released only once every request
holding it has finished, so a swap never fails a request.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import get_model_status_pb2, model_pb2

from serving.saved_model import SessionBundle, is_saved_model_dir, session_config, version_number
from serving.server.config import ModelConfig, RuntimeOptions
from serving.server.status import invalid_argument, not_found

logger = logging.getLogger(__name__)
State = get_model_status_pb2.ModelVersionStatus.State
# A failed load is retried after 2, 4, 8... seconds (a version copied in place rather than renamed
# may be incomplete at first), up to this many attempts; a changed directory starts over.
MAX_LOAD_ATTEMPTS = 6


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


@dataclass
class VersionRecord:
    """What GetModelStatus reports for one version (kept after unloading, like TF Serving)."""

    state: int
    error: str = ""
    servable: Servable | None = None
    dir_signature: tuple[int, int] | None = None  # (inode, mtime_ns) of a failed load's directory
    failed_attempts: int = 0
    failed_at: float = 0.0  # time.monotonic() of the last failed load


def versions_on_disk(base_path: Path) -> dict[int, Path]:
    """Integer-named subdirectories holding a complete SavedModel."""
    found: dict[int, Path] = {}
    try:
        children = sorted(
            base_path.iterdir(), key=lambda p: (len(p.name), p.name)
        )  # "1" before "01"
    except OSError:
        return found
    for child in children:
        version = version_number(child.name)
        if version is not None and child.is_dir() and is_saved_model_dir(child):
            found.setdefault(version, child)
    return found


def _dir_signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns)


class ServableManager:
    """Owns the loaded versions of every model; requests borrow them with `acquire`."""

    def __init__(
        self,
        models: tuple[ModelConfig, ...],
        on_change: Callable[[], None] | None = None,
        unload_wait_seconds: float = 60.0,
        loader: Callable[[str, int, Path], Servable] = load_servable,
    ) -> None:
        self._models = {m.name: m for m in models}
        self._loader = loader
        self._records: dict[str, dict[int, VersionRecord]] = {m.name: {} for m in models}
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._on_change = on_change
        self._unload_wait_seconds = unload_wait_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- requests -------------------------------------------------------------------------
    @contextlib.contextmanager
    def acquire(self, model_spec: model_pb2.ModelSpec) -> Iterator[Servable]:
        """The version `model_spec` asks for, held until the block exits."""
        servable = self._resolve(model_spec)
        try:
            yield servable
        finally:
            servable.leave()

    def _resolve(self, spec: model_pb2.ModelSpec) -> Servable:
        if not spec.name:
            raise invalid_argument("ModelSpec has no name specified.")
        choice = spec.WhichOneof("version_choice")
        with self._lock:
            records = self._records.get(spec.name, {})
            if choice == "version_label":
                version: int | None = self.version_of_label(spec.name, spec.version_label)
            else:
                version = spec.version.value if choice == "version" else None
            if version is None:
                available = [v for v, r in records.items() if r.state == State.AVAILABLE]
                wanted = max(available) if available else None
                request = f"Latest({spec.name})"
            else:
                wanted = version
                request = f"Specific({spec.name}, {version})"
            record = records.get(wanted) if wanted is not None else None
            if record is None or record.state != State.AVAILABLE or record.servable is None:
                raise not_found(f"Servable not found for request: {request}")
            record.servable.enter()
            return record.servable

    def version_of_label(self, name: str, label: str) -> int:
        model = self._models.get(name)
        labels = model.version_labels if model else {}
        if label not in labels:
            raise invalid_argument(f"Unrecognized servable version label: {label}")
        return labels[label]

    # ---- status ---------------------------------------------------------------------------
    def model_names(self) -> list[str]:
        return list(self._models)

    def version_states(self, name: str) -> dict[int, VersionRecord]:
        """A snapshot of every version ever seen for `name` (empty for unknown models)."""
        with self._lock:
            return {
                v: VersionRecord(r.state, r.error) for v, r in self._records.get(name, {}).items()
            }

    def available_versions(self, name: str) -> list[int]:
        with self._lock:
            return sorted(
                v for v, r in self._records.get(name, {}).items() if r.state == State.AVAILABLE
            )

    def all_models_available(self) -> bool:
        return all(self.available_versions(name) for name in self._models)

    # ---- loading --------------------------------------------------------------------------
    def poll_once(self) -> None:
        """Bring every model in line with its directory and version policy."""
        with self._poll_lock:
            for model in self._models.values():
                self._reconcile(model)

    def _set(self, name: str, version: int, record: VersionRecord) -> None:
        with self._lock:
            self._records[name][version] = record
        if self._on_change:
            self._on_change()

    def _reconcile(self, model: ModelConfig) -> None:
        on_disk = versions_on_disk(model.base_path)
        aspired = model.version_policy.select(list(on_disk))
        for version in aspired:
            with self._lock:
                record = self._records[model.name].get(version)
            if record and record.state == State.AVAILABLE:
                continue
            attempts = 0
            if record and record.error and record.dir_signature == _dir_signature(on_disk[version]):
                attempts = record.failed_attempts
                if (
                    attempts >= MAX_LOAD_ATTEMPTS
                    or time.monotonic() - record.failed_at < 2.0**attempts
                ):
                    continue
            self._load(model, version, on_disk[version], attempts)
        available_aspired = [v for v in aspired if v in self.available_versions(model.name)]
        if not available_aspired:
            if model.version_policy.kind == "latest" and not self.available_versions(model.name):
                self._load_fallback(model, on_disk, aspired)
            return  # keep serving whatever is loaded until an aspired version is available
        for version in self.available_versions(model.name):
            if version not in aspired:
                self._unload(model.name, version)

    def _load_fallback(
        self, model: ModelConfig, on_disk: dict[int, Path], aspired: list[int]
    ) -> None:
        """Serve the newest older version that loads while none of the latest ones does.

        A departure from TF Serving, which serves nothing when its latest version cannot load:
        one bad export must not keep a pod from starting. The fallback is unloaded as soon as an
        aspired version becomes available; GetModelStatus reports the failed version's error.
        """
        for version in sorted(set(on_disk) - set(aspired), reverse=True):
            with self._lock:
                record = self._records[model.name].get(version)
            if record and record.error and record.dir_signature == _dir_signature(on_disk[version]):
                continue  # failed before, unchanged since
            self._load(model, version, on_disk[version])
            if version in self.available_versions(model.name):
                logger.warning(
                    "%s: no version of the latest %s loads; serving older version %d meanwhile",
                    model.name,
                    aspired,
                    version,
                )
                return

    def _load(self, model: ModelConfig, version: int, path: Path, failed_attempts: int = 0) -> None:
        self._set(model.name, version, VersionRecord(State.LOADING))
        try:
            servable = self._loader(model.name, version, path)
        except Exception as exc:  # any failure of a user's model directory is reported, not fatal
            logger.error("failed to load %s version %d from %s: %s", model.name, version, path, exc)
            self._set(
                model.name,
                version,
                VersionRecord(
                    State.END,
                    error=f"{type(exc).__name__}: {exc}",
                    dir_signature=_dir_signature(path),
                    failed_attempts=failed_attempts + 1,
                    failed_at=time.monotonic(),
                ),
            )
            return
        self._set(model.name, version, VersionRecord(State.AVAILABLE, servable=servable))

    def _unload(self, name: str, version: int) -> None:
        with self._lock:
            record = self._records[name][version]
            servable = record.servable
        self._set(name, version, VersionRecord(State.UNLOADING, servable=None))
        if servable is not None:
            if servable.wait_idle(self._unload_wait_seconds):
                servable.release()
            else:  # its session is closed when the last request lets go of it
                logger.warning(
                    "%s version %d still has %d requests in flight after %.0fs; releasing it",
                    name,
                    version,
                    servable.in_flight,
                    self._unload_wait_seconds,
                )
        self._set(name, version, VersionRecord(State.END))
        logger.info("unloaded %s version %d", name, version)

    def start_polling(self, interval_seconds: float) -> None:
        """Poll in a background thread (interval 0: load once, never poll, as in TF Serving)."""
        if interval_seconds <= 0:
            return
        self._thread = threading.Thread(
            target=self._poll_loop, args=(interval_seconds,), name="servable-poller", daemon=True
        )
        self._thread.start()

    def _poll_loop(self, interval_seconds: float) -> None:
        while not self._stop.wait(interval_seconds):
            try:
                self.poll_once()
            except Exception:  # a poller that dies silently would freeze the served versions
                logger.exception("version poll failed")

    def stop(self) -> None:
        """Stop polling and close every loaded version's session (call after requests drained)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            loaded = [
                r.servable
                for records in self._records.values()
                for r in records.values()
                if r.servable
            ]
        for servable in loaded:
            servable.release()
