"""Typed server configuration, from flags or TF Serving's `model_config_list` text format.

Everything the server needs is validated here, before anything is loaded, so a bad flag or a
bad config file is one `ServingError` line rather than a failure at request time.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

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
        return ordered[-self.num_versions :]


@dataclass(frozen=True)
class ModelConfig:
    """One served model: a name and a base path of integer version directories."""

    name: str
    base_path: Path
    version_policy: VersionPolicy = VersionPolicy()
    version_labels: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


MAX_WAIT_SECONDS = 86_400  # any timeout a flag or file sets: at most a day
MAX_LOAD_TIMEOUT_SECONDS = float(MAX_WAIT_SECONDS)
INT32_MAX = 2**31 - 1  # gRPC's channel arguments and TensorFlow's thread counts are C ints
MAX_THREADS = 4096  # any thread count a flag or file sets
MAX_TIMEOUT_MS = MAX_WAIT_SECONDS * 1000
LIMIT_MAXIMA = {
    "max_message_bytes": INT32_MAX,
    "max_request_batch": INT32_MAX,
    "max_prompt_length": INT32_MAX,
    "max_concurrent_requests": 100_000,
}


def _cpu_count() -> int:
    """TensorFlow's port::MaxParallelism(): the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class BatchingOptions:
    """Server-side batching: TF Serving's BatchingParameters, with its defaults for unset fields
    (those of TensorFlow's SharedBatchScheduler: 1000 rows, no timeout, 10 batches, a thread per CPU)."""

    enabled: bool = False
    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    num_batch_threads: int = field(default_factory=_cpu_count)
    max_enqueued_batches: int = 10
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False
    enable_large_batch_splitting: bool = False
    max_execution_batch_size: int | None = None  # with splitting; unset: max_batch_size

    @property
    def execution_batch_size(self) -> int:
        """Rows per model call: max_execution_batch_size when splitting, else max_batch_size."""
        if self.enable_large_batch_splitting and self.max_execution_batch_size is not None:
            return self.max_execution_batch_size
        return self.max_batch_size

    def problems(self) -> list[str]:
        """What TF Serving refuses in these parameters, in its words."""
        found = []
        if self.max_batch_size <= 0:
            found.append(f"input_batch_size_limit must be positive; was {self.max_batch_size}")
        if self.batch_timeout_micros < 0:
            found.append(
                f"batch_timeout_micros must be non-negative; was {self.batch_timeout_micros}"
            )
        if self.max_enqueued_batches <= 0:
            found.append(f"max_enqueued_batches must be positive; was {self.max_enqueued_batches}")
        if self.num_batch_threads <= 0:
            found.append(f"num_batch_threads must be positive; was {self.num_batch_threads}")
        for name, largest in (
            ("max_batch_size", INT32_MAX),
            ("max_enqueued_batches", 1_000_000),
            ("num_batch_threads", MAX_THREADS),
            ("batch_timeout_micros", MAX_TIMEOUT_MS * 1000),
        ):
            if getattr(self, name) > largest:
                found.append(f"{name} must be at most {largest}; was {getattr(self, name)}")
        if self.enable_large_batch_splitting and self.max_batch_size < self.execution_batch_size:
            found.append(
                "When enable_large_batch_splitting is true, input_batch_size_limit must be greater "
                "than or equal to max_execution_batch_size."
            )
        sizes = self.allowed_batch_sizes
        if sizes:
            if any(b <= a for a, b in zip(sizes, sizes[1:])):
                found.append("allowed_batch_sizes entries must be monotonically increasing")
            if sizes[-1] != self.max_batch_size:
                found.append(
                    f"Last entry in allowed_batch_sizes must match max_batch_size; last entry was "
                    f"{sizes[-1]}; expected {self.max_batch_size}"
                )
        return found


@dataclass(frozen=True)
class ServerLimits:
    """Abuse limits applied to every request before it reaches a model."""

    max_message_bytes: int = defaults.MAX_MESSAGE_BYTES
    max_request_batch: int = defaults.MAX_REQUEST_BATCH
    max_prompt_length: int = defaults.MAX_PROMPT_LENGTH
    max_concurrent_requests: int = defaults.MAX_CONCURRENT_REQUESTS


@dataclass(frozen=True)
class RuntimeOptions:
    """How versions are loaded and run: TF Serving's ``--tensorflow_intra_op_parallelism``,
    ``--tensorflow_inter_op_parallelism`` (0: TensorFlow picks, a thread per core) and
    ``--enable_model_warmup``."""

    intra_op_parallelism: int = 0
    inter_op_parallelism: int = 0
    enable_model_warmup: bool = True
    # This server's own: a load (warmup included) taking longer is abandoned and reported.
    load_timeout_seconds: float = 300.0


@dataclass(frozen=True)
class RestOptions:
    """The HTTP port: TF Serving's REST API and the Prometheus metrics (TF Serving's
    ``--rest_api_port``, ``--rest_api_num_threads`` (4 per CPU), ``--rest_api_timeout_in_ms``)."""

    port: int | None = None  # None: no HTTP port
    num_threads: int = field(default_factory=lambda: 4 * _cpu_count())
    timeout_in_ms: int = 30_000


@dataclass(frozen=True)
class ServerConfig:
    models: tuple[ModelConfig, ...]
    port: int = defaults.GRPC_PORT
    host: str = "0.0.0.0"
    poll_wait_seconds: float = defaults.FILE_SYSTEM_POLL_WAIT_SECONDS
    batching: BatchingOptions = BatchingOptions()
    limits: ServerLimits = ServerLimits()
    runtime: RuntimeOptions = RuntimeOptions()
    rest: RestOptions = field(default_factory=lambda: RestOptions())
    tls_cert: Path | None = None
    tls_key: Path | None = None
    grace_seconds: float = defaults.SHUTDOWN_GRACE_SECONDS
    grpc_channel_arguments: tuple[
        tuple[str, int | str], ...
    ] = ()  # TF Serving's --grpc_channel_arguments

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
    for name, largest in LIMIT_MAXIMA.items():
        value = getattr(config.limits, name)
        if not 0 < value <= largest:
            raise ServingError(
                f"--{name.replace('_', '-')} must be positive and at most {largest}, got {value}"
            )
    problems = config.batching.problems()
    if problems:
        raise ServingError("invalid batching parameters: " + "; ".join(problems))
    for name in ("intra_op_parallelism", "inter_op_parallelism"):
        value = getattr(config.runtime, name)
        if not 0 <= value <= MAX_THREADS:
            raise ServingError(
                f"--tensorflow-{name.replace('_', '-')} must be in [0, {MAX_THREADS}], got {value}"
            )
    timeout = config.runtime.load_timeout_seconds
    if not (math.isfinite(timeout) and 0 < timeout <= MAX_LOAD_TIMEOUT_SECONDS):
        raise ServingError(
            f"--model-load-timeout-seconds must be in (0, {MAX_LOAD_TIMEOUT_SECONDS}], got {timeout}"
        )
    if not math.isfinite(config.poll_wait_seconds) or config.poll_wait_seconds < 0:
        raise ServingError(
            f"--file-system-poll-wait-seconds must be a number >= 0, got {config.poll_wait_seconds}"
        )
    if not math.isfinite(config.grace_seconds) or config.grace_seconds < 0:
        raise ServingError(f"--grace-seconds must be a number >= 0, got {config.grace_seconds}")
    if not 0 <= config.port < 65536:
        raise ServingError(f"--port {config.port} is not a TCP port")
    if config.rest.port is not None and not 0 <= config.rest.port < 65536:
        raise ServingError(f"--rest-api-port {config.rest.port} is not a TCP port")
    if config.rest.port is not None and config.rest.port == config.port != 0:
        raise ServingError(f"--rest-api-port and --port are both {config.port}")
    if not 0 < config.rest.num_threads <= MAX_THREADS:
        raise ServingError(
            f"--rest-api-num-threads must be positive and at most {MAX_THREADS}, "
            f"got {config.rest.num_threads}"
        )
    if not 0 <= config.rest.timeout_in_ms <= MAX_TIMEOUT_MS:
        raise ServingError(
            f"--rest-api-timeout-in-ms must be in [0, {MAX_TIMEOUT_MS}] (a day), "
            f"got {config.rest.timeout_in_ms}"
        )


def parse_channel_arguments(text: str) -> tuple[tuple[str, int | str], ...]:
    """TF Serving's ``--grpc_channel_arguments``: ``key=value`` pairs separated by commas (integer
    values become integers), e.g. ``grpc.max_connection_age_ms=300000``."""
    arguments = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ServingError(f"--grpc-channel-arguments: {item!r} is not key=value")
        value = value.strip()
        # an integer as TF Serving's absl::SimpleAtoi reads one (ASCII digits), else the string
        if re.fullmatch(r"-?[0-9]+", value):
            number = int(value[:12])  # more digits cannot fit anyway
            if len(value.lstrip("-")) > 11 or not -INT32_MAX - 1 <= number <= INT32_MAX:
                raise ServingError(
                    f"--grpc-channel-arguments: {key.strip()}={value[:30]} does not fit in a "
                    "32-bit integer, which gRPC's channel arguments are"
                )
            arguments.append((key.strip(), number))
        else:
            arguments.append((key.strip(), value))
    return tuple(arguments)


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
            raise ServingError(
                f"model {entry.name}: model_platform {entry.model_platform!r} "
                "is not supported (only 'tensorflow')"
            )
        models.append(
            ModelConfig(
                name=entry.name,
                base_path=_base_path(entry.base_path),
                version_policy=_version_policy(entry),
                version_labels=MappingProxyType(dict(entry.version_labels)),
            )
        )
    return tuple(models)


def read_model_config_file(path: Path | str) -> tuple[ModelConfig, ...]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ServingError(f"cannot read model config file {path}: {exc}") from exc
    return parse_model_config_list(text, str(path))
