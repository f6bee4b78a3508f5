"""Assemble the TF-Serving-compatible gRPC server, start it, and stop it gracefully.

`start_server(config)` returns a handle (`.port`, `.rest_port`, `.stop()`), for tests and
benchmarks in-process; `run_server` is the blocking loop of `charloom serve` (SIGTERM/SIGINT:
health goes NOT_SERVING, in-flight calls drain for `grace_seconds`, then the process exits).
"""

from __future__ import annotations

import concurrent.futures
import logging
import signal
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from serving.errors import ServingError
from serving.server.batching import BatchScheduler
from serving.server.config import ServerConfig
from serving.server.grpc_threads import (
    CONTROL_THREADS,
    PREDICTION_SERVICE,
    CountingExecutor,
    PredictionAdmission,
    servicer_on_pools,
)
from serving.server.loading import Servable, load_servable
from serving.server.metrics import GRPC, ServerMetrics
from serving.server.model_service import ModelService
from serving.server.predict import Admission, PredictionService, Predictor, too_many_calls
from serving.server.rest.api import RestApi, Services
from serving.server.rest.server import RestServer
from serving.server.servables import ServableManager
from serving.server.warmup import replay_warmup

logger = logging.getLogger(__name__)
HEALTH_SERVICES = ("", PREDICTION_SERVICE)


@dataclass
class ServerHandle:
    """A running server; `stop()` is idempotent."""

    port: int
    rest_port: int | None
    config: ServerConfig
    manager: ServableManager
    metrics: ServerMetrics
    _server: grpc.Server
    _health: health.HealthServicer
    _scheduler: BatchScheduler | None
    _rest: RestServer | None
    _stopped: threading.Event
    _pools: tuple[concurrent.futures.ThreadPoolExecutor, ...] = ()

    def stop(self, grace: float | None = None) -> None:
        """Refuse new calls, let in-flight ones finish within `grace` seconds, release everything."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._health.enter_graceful_shutdown()
        self._server.stop(self.config.grace_seconds if grace is None else grace).wait()
        if self._scheduler is not None:
            self._scheduler.stop()
        self.manager.stop()
        if self._rest is not None:
            self._rest.stop()
        for pool in self._pools:
            pool.shutdown(wait=False, cancel_futures=True)
        logger.info("server on port %d stopped", self.port)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(grace=0)


def _credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    try:
        pair = (Path(config.tls_key).read_bytes(), Path(config.tls_cert).read_bytes())
    except OSError as exc:
        raise ServingError(f"cannot read TLS key/certificate: {exc}") from exc
    try:  # gRPC only says "port in use" for a PEM it cannot use: check the pair first
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(config.tls_cert, config.tls_key)
    except ssl.SSLError as exc:
        raise ServingError(
            f"--tls-cert {config.tls_cert} and --tls-key {config.tls_key} are not a usable PEM "
            f"certificate chain and matching private key ({exc.reason or exc})"
        ) from None
    return grpc.ssl_server_credentials([pair])


def start_server(config: ServerConfig) -> ServerHandle:
    """Load the configured models' versions, then serve them (port 0 picks a free port)."""
    for model in config.models:
        if not model.base_path.is_dir():
            raise ServingError(
                f"model base path {model.base_path} of model {model.name!r} is not a directory"
            )
    credentials = _credentials(config)
    metrics = ServerMetrics(tuple(m.name for m in config.models))
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    manager: ServableManager

    def update_health() -> None:
        state = (
            health_pb2.HealthCheckResponse.SERVING
            if manager.all_models_available()
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for service in HEALTH_SERVICES:
            health_servicer.set(service, state)

    scheduler = (
        BatchScheduler(
            config.batching, on_batch=metrics.record_batch, on_dequeue=metrics.record_queuing
        )
        if config.batching.enabled
        else None
    )
    predictor = Predictor(config.limits, scheduler, metrics)

    def load(name: str, version: int, path: Path) -> Servable:
        """TF Serving's load: the session, then the warmup replay; a failure fails the load."""
        servable = load_servable(name, version, path, config.runtime)
        if config.runtime.enable_model_warmup:
            try:
                replay_warmup(path, lambda request: predictor.predict(servable, request, None))
            except BaseException:
                servable.release()
                raise
        return servable

    manager = ServableManager(
        config.models,
        on_change=update_health,
        loader=load,
        load_timeout_seconds=config.runtime.load_timeout_seconds,
    )
    update_health()
    manager.poll_once()
    limits = config.limits
    options = [
        ("grpc.max_receive_message_length", limits.max_message_bytes),
        ("grpc.max_send_message_length", limits.max_message_bytes),
        ("grpc.so_reuseport", 0),  # a second server on a busy port fails instead of sharing it
        *config.grpc_channel_arguments,
    ]
    # PredictionService on its own pool, refused before a thread is taken past the limit; probes
    # and watches on pools Predict never occupies (serving/server/grpc_threads.py).
    work_pool = CountingExecutor(limits.max_concurrent_requests, "grpc")
    control_pool = concurrent.futures.ThreadPoolExecutor(CONTROL_THREADS, "grpc-control")
    watch_pool = concurrent.futures.ThreadPoolExecutor(CONTROL_THREADS, "grpc-watch")
    server = grpc.server(
        work_pool,
        options=options,
        interceptors=[
            PredictionAdmission(
                work_pool,
                limits.max_concurrent_requests,
                control_pool,
                too_many_calls(limits.max_concurrent_requests),
                on_refused=lambda api: metrics.record_request(
                    "", api, GRPC, grpc.StatusCode.RESOURCE_EXHAUSTED.name, 0.0
                ),
            )
        ],
    )
    prediction_service = PredictionService(
        manager, predictor, metrics, Admission(limits.max_concurrent_requests)
    )
    model_service = ModelService(manager, metrics)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(prediction_service, server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        servicer_on_pools(
            model_service,
            {"GetModelStatus": control_pool, "HandleReloadConfigRequest": control_pool},
        ),
        server,
    )
    health_pb2_grpc.add_HealthServicer_to_server(
        servicer_on_pools(
            health_servicer, {"Check": control_pool, "List": control_pool, "Watch": watch_pool}
        ),
        server,
    )
    address = f"{config.host}:{config.port}"
    try:
        port = (
            server.add_secure_port(address, credentials)
            if credentials
            else server.add_insecure_port(address)
        )
    except RuntimeError as exc:
        port = 0
        logger.debug("binding %s failed: %s", address, exc)
    if not port:
        manager.stop()
        if scheduler:
            scheduler.stop()
        raise ServingError(f"cannot listen on {address} (port in use or not permitted)")
    server.start()
    manager.start_polling(config.poll_wait_seconds)
    rest = None
    if config.rest.port is not None:
        timeout = config.rest.timeout_in_ms / 1000 if config.rest.timeout_in_ms else None
        api = RestApi(
            Services(
                status=model_service.status,
                metadata=prediction_service.metadata,
                predict=prediction_service.predict,
                signature=prediction_service.signature,
            ),
            metrics,
            timeout,
        )
        try:
            rest = RestServer(
                api,
                metrics.registry,
                config.host,
                config.rest.port,
                threads=config.rest.num_threads,
                max_body_bytes=limits.max_message_bytes,
            )
        except ServingError:
            server.stop(0)
            manager.stop()
            raise
    return ServerHandle(
        port=port,
        rest_port=rest.port if rest else None,
        config=config,
        manager=manager,
        metrics=metrics,
        _server=server,
        _health=health_servicer,
        _scheduler=scheduler,
        _rest=rest,
        _stopped=threading.Event(),
        _pools=(work_pool, control_pool, watch_pool),
    )


def run_server(
    config: ServerConfig, on_ready: Callable[[ServerHandle], None] | None = None
) -> None:
    """Serve until SIGTERM or SIGINT, then drain in-flight calls and return."""
    stop_requested = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop_requested.set())
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        handle = start_server(config)
        try:
            if on_ready:
                on_ready(handle)
            stop_requested.wait()
            logger.info(
                "shutting down: draining in-flight calls for up to %.1fs", config.grace_seconds
            )
        finally:
            handle.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
