"""The gateway process: the HTTP API (uvicorn) and the gRPC API (grpc.aio) on one event loop,
the engine on its own thread. `run_gateway` serves until SIGTERM/SIGINT (the CLI);
`start_gateway` serves from a background thread and returns a handle (tests, benchmarks)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Callable

import grpc
import uvicorn

from serving.gateway.config import GatewayConfig
from serving.gateway.grpc_api import NOT_SERVING, SERVICE_NAME, SERVING, add_services
from serving.gateway.http_api import create_app
from serving.gateway.service import Gateway

log = logging.getLogger(__name__)
SHUTDOWN_GRACE_SECONDS = 5


@dataclasses.dataclass
class Ports:
    http: int
    grpc: int | None


async def serve(
    config: GatewayConfig,
    on_ready: Callable[[Ports], None] | None = None,
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
) -> None:
    """Serve until ``stop`` is set or, with ``handle_signals``, SIGTERM/SIGINT arrives."""
    gateway = Gateway(config)
    gateway.start()
    grpc_server = grpc.aio.server()
    health = add_services(grpc_server, gateway)
    grpc_port = None
    try:
        if config.grpc_port is not None:
            grpc_port = grpc_server.add_insecure_port(
                f"{_grpc_host(config.host)}:{config.grpc_port}"
            )
            if grpc_port == 0:
                raise OSError(f"cannot listen on gRPC port {config.grpc_port}")
            await grpc_server.start()
            for service in ("", SERVICE_NAME):
                await health.set(service, SERVING)
        http = uvicorn.Server(
            uvicorn.Config(
                create_app(gateway),
                host=config.host,
                port=config.port,
                log_level="warning",
                lifespan="off",
                access_log=False,
                timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
            )
        )
        if not handle_signals:
            http.install_signal_handlers = lambda: None  # a background thread has no signals
        task = asyncio.create_task(http.serve())
        while not http.started:
            if task.done():
                task.result()  # raises why it could not start (a busy port: SystemExit)
                raise OSError(f"cannot listen on HTTP port {config.port}")
            await asyncio.sleep(0.02)
        port = http.servers[0].sockets[0].getsockname()[1]
        if on_ready is not None:
            on_ready(Ports(port, grpc_port))
        if stop is not None:
            waiter = asyncio.create_task(stop.wait())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            http.should_exit = True
            waiter.cancel()
        await task
    finally:
        for service in ("", SERVICE_NAME):
            await health.set(service, NOT_SERVING)
        await grpc_server.stop(SHUTDOWN_GRACE_SECONDS)
        gateway.stop()


def _grpc_host(host: str) -> str:
    return "[::]" if host in ("0.0.0.0", "::") else host


class GatewayHandle:
    """A gateway serving from a background thread; `stop()` ends it."""

    def __init__(self, config: GatewayConfig) -> None:
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.ports: Ports | None = None
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(
            target=self._run, args=(config,), daemon=True, name="gateway"
        )
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("the gateway did not start within 60 s")
        if self._error is not None:
            raise self._error

    def _run(self, config: GatewayConfig) -> None:
        def ready(ports: Ports) -> None:
            self.ports = ports
            self._ready.set()

        try:
            self._loop.run_until_complete(serve(config, ready, self._stop, handle_signals=False))
        except BaseException as exc:  # noqa: BLE001 - reported to the thread that started us
            self._error = exc
        finally:
            self._ready.set()

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.http}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.ports.grpc}"

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=30)


def start_gateway(config: GatewayConfig) -> GatewayHandle:
    return GatewayHandle(config)


def run_gateway(config: GatewayConfig, on_ready: Callable[[Ports], None] | None = None) -> None:
    asyncio.run(serve(config, on_ready))
