"""The model server's options as the command line fills them (TF Serving's ``Server::Options``),
and the ServerConfig the server builds from them.

The command line only fills these fields; the server reads the files they name (the
``model_config_list`` and the ``BatchingParameters`` text protos) and validates everything into
a `ServerConfig` before anything loads, so a bad flag or file is one `ServingError` line.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from serving import defaults
from serving.errors import ServingError
from serving.server.batching_parameters import read_batching_parameters_file
from serving.server.config import (
    BatchingOptions,
    RestOptions,
    RuntimeOptions,
    ServerConfig,
    ServerLimits,
    parse_channel_arguments,
    read_model_config_file,
    single_model,
)


@dataclass(frozen=True)
class ServerOptions:
    """One field per `charloom serve` flag (named as TF Serving's); None: not given."""

    model_base_path: Path | None = None
    model_name: str = defaults.MODEL_NAME
    model_config_file: Path | None = None
    file_system_poll_wait_seconds: float = defaults.FILE_SYSTEM_POLL_WAIT_SECONDS
    port: int = defaults.GRPC_PORT
    host: str = "0.0.0.0"
    rest_api_port: int | None = None
    rest_api_num_threads: int | None = None  # None: 4 per CPU, as TF Serving
    rest_api_timeout_in_ms: int = RestOptions.timeout_in_ms
    grpc_channel_arguments: str = ""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    grace_seconds: float = defaults.SHUTDOWN_GRACE_SECONDS
    enable_batching: bool = False
    batching_parameters_file: Path | None = None
    max_batch_size: int | None = None  # these three override the batching file
    batch_timeout_micros: int | None = None
    num_batch_threads: int | None = None
    tensorflow_intra_op_parallelism: int = RuntimeOptions.intra_op_parallelism
    tensorflow_inter_op_parallelism: int = RuntimeOptions.inter_op_parallelism
    enable_model_warmup: bool = RuntimeOptions.enable_model_warmup
    model_load_timeout_seconds: float = RuntimeOptions.load_timeout_seconds
    max_message_bytes: int = ServerLimits.max_message_bytes
    max_request_batch: int = ServerLimits.max_request_batch
    max_prompt_length: int = ServerLimits.max_prompt_length
    max_concurrent_requests: int = ServerLimits.max_concurrent_requests

    def server_config(self) -> ServerConfig:
        """Read the files the options name and validate everything (ServingError on a mistake)."""
        return ServerConfig(
            models=self._models(),
            port=self.port,
            host=self.host,
            poll_wait_seconds=self.file_system_poll_wait_seconds,
            batching=self._batching(),
            limits=ServerLimits(
                self.max_message_bytes,
                self.max_request_batch,
                self.max_prompt_length,
                self.max_concurrent_requests,
            ),
            runtime=RuntimeOptions(
                self.tensorflow_intra_op_parallelism,
                self.tensorflow_inter_op_parallelism,
                self.enable_model_warmup,
                self.model_load_timeout_seconds,
            ),
            rest=self._rest(),
            tls_cert=self.tls_cert,
            tls_key=self.tls_key,
            grace_seconds=self.grace_seconds,
            grpc_channel_arguments=parse_channel_arguments(self.grpc_channel_arguments),
        )

    def _models(self):
        if self.model_config_file and self.model_base_path:
            raise ServingError("give either --model-config-file or --model-base-path, not both")
        if self.model_config_file:
            return read_model_config_file(self.model_config_file)
        if self.model_base_path:
            return (single_model(self.model_name, self.model_base_path),)
        raise ServingError("give --model-base-path (one model) or --model-config-file (several)")

    def _batching(self) -> BatchingOptions:
        if self.batching_parameters_file and not self.enable_batching:
            raise ServingError(
                "--batching-parameters-file is set without --enable-batching "
                "(TF Serving refuses this too)"
            )
        batching = BatchingOptions(enabled=self.enable_batching)
        if self.batching_parameters_file:
            batching = replace(
                batching, **read_batching_parameters_file(self.batching_parameters_file)
            )
        overrides = {
            name: getattr(self, name)
            for name in ("max_batch_size", "batch_timeout_micros", "num_batch_threads")
            if getattr(self, name) is not None
        }
        return replace(batching, **overrides)

    def _rest(self) -> RestOptions:
        rest = RestOptions(port=self.rest_api_port, timeout_in_ms=self.rest_api_timeout_in_ms)
        if self.rest_api_num_threads is not None:
            rest = replace(rest, num_threads=self.rest_api_num_threads)
        return rest
