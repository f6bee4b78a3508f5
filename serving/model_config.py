"""Typed server configuration, from flags or TF Serving's `model_config_list` text format.

Everything the server needs is validated here, before anything is loaded, so a bad flag or a
bad config file is one `ServingError` line rather than a failure at request time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, Mapping

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving import defaults
from serving.errors import ServingError


@dataclass(frozen=True)
class VersionPolicy:
    """Which on-disk versions to serve: TF Serving's ServableVersionPolicy."""

    kind: Literal["latest", "all", "specific"] = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def select(self, on_disk: list[int]) -> list[int]:
        """The versions of `on_disk` this policy aspires to serve, ascending."""
        ordered = sorted(on_disk)
        if self.kind == "all":
            return ordered
        if self.kind == "specific":
            return [v for v in ordered if v in self.versions]
        return ordered[-self.num_versions:]


@dataclass(frozen=True)
class ModelConfig:
    """One served model: a name and a base path of integer version directories."""

    name: str
    base_path: Path
    version_policy: VersionPolicy = VersionPolicy()
    version_labels: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class BatchingOptions:
    """Server-side batching, mirroring TF Serving's BatchingParameters."""

    enabled: bool = False
    max_batch_size: int = defaults.MAX_BATCH_SIZE
    batch_timeout_micros: int = defaults.BATCH_TIMEOUT_MICROS
    num_batch_threads: int = defaults.NUM_BATCH_THREADS
    max_enqueued_batches: int = defaults.MAX_ENQUEUED_BATCHES


@dataclass(frozen=True)
class ServerLimits:
    """Abuse limits applied to every request before it reaches a model."""

    max_message_bytes: int = defaults.MAX_MESSAGE_BYTES
    max_request_batch: int = defaults.MAX_REQUEST_BATCH
    max_prompt_length: int = defaults.MAX_PROMPT_LENGTH


@dataclass(frozen=True)
class ServerConfig:
    models: tuple[ModelConfig, ...]
    port: int = defaults.GRPC_PORT
    host: str = "0.0.0.0"
    poll_wait_seconds: float = defaults.FILE_SYSTEM_POLL_WAIT_SECONDS
    batching: BatchingOptions = BatchingOptions()
    limits: ServerLimits = ServerLimits()
    monitoring_port: int | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    grace_seconds: float = defaults.SHUTDOWN_GRACE_SECONDS
    max_workers: int = 128  # gRPC handler threads: requests waiting for a batch each hold one

    def __post_init__(self) -> None:
        validate_server_config(self)


def validate_server_config(config: ServerConfig) -> None:
    if not config.models:
        raise ServingError("no model configured: give --model-base-path or --model-config-file")
    names = [m.name for m in config.models]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ServingError(f"model names must be unique; repeated: {', '.join(duplicates)}")
    if (config.tls_cert is None) != (config.tls_key is None):
        raise ServingError("--tls-cert and --tls-key must be given together")
    for name in ("max_message_bytes", "max_request_batch", "max_prompt_length"):
        if getattr(config.limits, name) <= 0:
            raise ServingError(f"--{name.replace('_', '-')} must be positive")
    b = config.batching
    if min(b.max_batch_size, b.num_batch_threads, b.max_enqueued_batches) <= 0 or b.batch_timeout_micros < 0:
        raise ServingError("batching parameters must be positive (batch_timeout_micros may be 0)")
    if config.poll_wait_seconds < 0:
        raise ServingError("--file-system-poll-wait-seconds must not be negative")
    if not 0 <= config.port < 65536:
        raise ServingError(f"--port {config.port} is not a TCP port")


def single_model(name: str, base_path: Path | str) -> ModelConfig:
    """The model of `--model-name/--model-base-path` (latest version policy)."""
    if not name:
        raise ServingError("--model-name must not be empty")
    return ModelConfig(name=name, base_path=Path(base_path).absolute())


def _base_path(text: str) -> Path:
    """Relative paths resolve against the working directory; URLs (gs://, s3://) are kept as
    written so the error that the local server cannot read them names them recognisably."""
    return Path(text) if "://" in text else Path(text).absolute()


def _version_policy(proto: model_server_config_pb2.ModelConfig) -> VersionPolicy:
    policy = proto.model_version_policy
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return VersionPolicy("all")
    if choice == "specific":
        if not policy.specific.versions:
            raise ServingError(f"model {proto.name}: specific version policy lists no versions")
        return VersionPolicy("specific", versions=tuple(sorted(policy.specific.versions)))
    num = policy.latest.num_versions if choice == "latest" and policy.latest.num_versions else 1
    return VersionPolicy("latest", num_versions=num)


def parse_model_config_list(text: str, source: str = "<text>") -> tuple[ModelConfig, ...]:
    """Models of a ModelServerConfig text proto (TF Serving's --model_config_file)."""
    proto = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as exc:
        raise ServingError(f"cannot parse model config {source}: {exc}") from exc
    if proto.WhichOneof("config") != "model_config_list" or not proto.model_config_list.config:
        raise ServingError(f"model config {source} has no model_config_list entries")
    models = []
    for entry in proto.model_config_list.config:
        if not entry.name or not entry.base_path:
            raise ServingError(f"model config {source}: every model needs a name and a base_path")
        if entry.model_platform not in ("", "tensorflow"):
            raise ServingError(f"model {entry.name}: model_platform {entry.model_platform!r} "
                               "is not supported (only 'tensorflow')")
        models.append(ModelConfig(
            name=entry.name, base_path=_base_path(entry.base_path),
            version_policy=_version_policy(entry),
            version_labels=MappingProxyType(dict(entry.version_labels))))
    return tuple(models)


def read_model_config_file(path: Path | str) -> tuple[ModelConfig, ...]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ServingError(f"cannot read model config file {path}: {exc}") from exc
    return parse_model_config_list(text, str(path))
