"""The HTTP port of `charloom serve` (`--rest-api-port`): TF Serving's REST API under ``/v1/`` and
the Prometheus metrics at ``/monitoring/prometheus/metrics``, as TF Serving serves both on its
REST port.

aiohttp runs the port on its own event loop in a background thread; each call's work (JSON,
the model) runs on a pool of ``threads`` (TF Serving's ``--rest_api_num_threads``), so idle or
slow connections hold no thread. Bodies above ``max_body_bytes`` (``--max-message-bytes``, the
gRPC limit) are refused with 413 before they are read whole; the decoded inputs then meet the
same checks as gRPC requests. At most ``BODIES_AT_ONCE`` maximal bodies' worth of bytes are read
and handled at once: a call past that waits on the event loop, holding no thread and no body,
so what REST bodies cost together is bounded (json_body.PEAK_BYTES_PER_BODY_BYTE per byte).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading

from aiohttp import http_exceptions, web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from serving import defaults
from serving.errors import ServingError
from serving.server.rest.api import API_PATH, RestApi, error_body

logger = logging.getLogger(__name__)
JSON = "application/json"
BODIES_AT_ONCE = 1  # bytes of REST bodies in progress at once, in --max-message-bytes


class ProtocolErrorLog:
    """aiohttp's server log, where a client's malformed request (bad request line, header or
    framing) is one warning line instead of a traceback; other errors keep theirs."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log

    def debug(self, message: str, *args: object, exc_info: object = None) -> None:
        self._log_at(logging.DEBUG, message, args, exc_info)

    def exception(self, message: str, *args: object, exc_info: object = True) -> None:
        self._log_at(logging.ERROR, message, args, exc_info)

    def _log_at(self, level: int, message: str, args: tuple, exc_info: object) -> None:
        if isinstance(exc_info, http_exceptions.HttpProcessingError):
            detail = " ".join(str(exc_info.message).split())[:200]
            self._log.log(
                logging.WARNING if level > logging.DEBUG else level,
                message + ": %d %s",
                *args,
                exc_info.code,
                detail,
            )
        else:
            self._log.log(level, message, *args, exc_info=exc_info)  # type: ignore[arg-type]


class BodyBudget:
    """Bytes of bodies in progress, at most `limit`; `reserve` waits (asynchronously) for room."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._used = 0
        self._room = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def reserve(self, size: int):
        size = min(size, self._limit)
        async with self._room:
            await self._room.wait_for(lambda: self._used + size <= self._limit)
            self._used += size
        try:
            yield
        finally:
            async with self._room:
                self._used -= size
                self._room.notify_all()


class RestServer:
    """A running HTTP port; `stop()` is idempotent."""

    def __init__(
        self,
        api: RestApi,
        registry: CollectorRegistry,
        host: str,
        port: int,
        *,
        threads: int,
        max_body_bytes: int,
    ) -> None:
        self._api = api
        self._registry = registry
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="rest")
        self._max_body_bytes = max_body_bytes
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._started = threading.Event()
        self._budget: BodyBudget | None = None
        self._error: BaseException | None = None
        self.port = 0
        self._thread = threading.Thread(
            target=self._serve, args=(host, port), name="rest-api", daemon=True
        )
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            self._pool.shutdown(wait=False)
            raise ServingError(f"cannot serve the REST API on {host}:{port} ({self._error})")

    def _serve(self, host: str, port: int) -> None:
        asyncio.set_event_loop(self._loop)
        self._budget = BodyBudget(BODIES_AT_ONCE * self._max_body_bytes)
        try:
            app = web.Application(client_max_size=self._max_body_bytes)
            app.router.add_route("*", "/{path:.*}", self._dispatch)
            self._runner = web.AppRunner(
                app, access_log=None, handle_signals=False, logger=ProtocolErrorLog(logger)
            )
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, host, port, reuse_port=False, backlog=128)
            self._loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - the port picked for 0
        except (OSError, RuntimeError) as exc:
            self._error = exc
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    async def _dispatch(self, request: web.Request) -> web.Response:
        path = request.path
        if path == defaults.MONITORING_PATH and request.method == "GET":
            body = await self._loop.run_in_executor(self._pool, generate_latest, self._registry)
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
        if not API_PATH.fullmatch(path):
            return web.Response(
                status=404,
                body=error_body(
                    f"no such path: {path} (the REST API is under /v1/, "
                    f"metrics at {defaults.MONITORING_PATH})"
                ),
                content_type=JSON,
            )
        declared = request.content_length
        if declared is not None and declared > self._max_body_bytes:
            return self._too_large()
        assert self._budget is not None
        async with self._budget.reserve(
            self._max_body_bytes if declared is None and request.can_read_body else declared or 0
        ):
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                return self._too_large()
            status, output = await self._loop.run_in_executor(
                self._pool, self._api.handle, request.method, path, body
            )
        return web.Response(status=status, body=output, content_type=JSON)

    def _too_large(self) -> web.Response:
        return web.Response(
            status=413,
            body=error_body(
                f"request body is larger than the server's limit of {self._max_body_bytes} bytes "
                "(--max-message-bytes)"
            ),
            content_type=JSON,
        )

    def stop(self) -> None:
        if self._loop.is_closed() or not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=False, cancel_futures=True)
