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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tensorflow_serving.apis import get_model_status_pb2, model_pb2

from serving.saved_model import is_saved_model_dir, version_number
from serving.server.config import ModelConfig
from serving.server.loading import LoadAttempt, Servable, load_servable
from serving.server.status import invalid_argument, not_found

logger = logging.getLogger(__name__)
State = get_model_status_pb2.ModelVersionStatus.State
# A failed load is retried after 2, 4, 8... seconds (a version copied in place rather than renamed
# may be incomplete at first), up to this many attempts; a changed directory starts over.
MAX_LOAD_ATTEMPTS = 6


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
        load_timeout_seconds: float | None = None,
    ) -> None:
        self._load_timeout_seconds = load_timeout_seconds
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
        description = f"the load of {model.name} version {version} from {path}"
        attempt = LoadAttempt(lambda: self._loader(model.name, version, path), description)
        if not attempt.wait(self._load_timeout_seconds):
            error = TimeoutError(
                f"{description} did not finish within {self._load_timeout_seconds:g} s "
                "(--model-load-timeout-seconds); it is not retried until the directory changes"
            )
            failed_attempts = MAX_LOAD_ATTEMPTS - 1  # a hung load is not retried: it holds a thread
        else:
            error = attempt.error
        if error is not None or attempt.servable is None:
            # any failure of a user's model directory is reported, not fatal
            logger.error(
                "failed to load %s version %d from %s: %s", model.name, version, path, error
            )
            self._set(
                model.name,
                version,
                VersionRecord(
                    State.END,
                    error=f"{type(error).__name__}: {error}",
                    dir_signature=_dir_signature(path),
                    failed_attempts=failed_attempts + 1,
                    failed_at=time.monotonic(),
                ),
            )
            return
        self._set(model.name, version, VersionRecord(State.AVAILABLE, servable=attempt.servable))

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
