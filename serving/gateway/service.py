"""The gateway's parts put together: the upstream model server, the engine, the metrics and the
API keys; `events` runs one request and yields its events to an asyncio consumer."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator

from serving.gateway.config import GatewayConfig
from serving.gateway.engine import Engine
from serving.gateway.errors import ModelNotFoundError, UnauthorizedError
from serving.gateway.jobs import Event, Failed, Finished, Job, JobSpec, Started
from serving.gateway.metrics import GatewayMetrics
from serving.gateway.upstream import Upstream

log = logging.getLogger(__name__)


class Gateway:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.api_keys = tuple(k.encode() for k in config.api_keys())
        self.metrics = GatewayMetrics()
        self.upstream = Upstream(
            config.target,
            config.model,
            timeout=config.timeout,
            max_rows_per_call=config.max_rows_per_call,
            load_balancing=config.load_balancing,
        )
        self.engine = Engine(
            self.upstream,
            self.metrics,
            max_rows_per_call=config.max_rows_per_call,
            steps_per_call=config.steps_per_call,
            max_running_rows=config.max_running_rows,
            max_waiting=config.max_waiting_requests,
        )

    def start(self) -> None:
        if not self.api_keys:
            log.warning(
                "no API key configured (--api-key-file or $CHARLOOM_GATEWAY_API_KEY): "
                "every client is served"
            )
        self.engine.start()

    def stop(self) -> None:
        self.engine.stop()
        self.upstream.close()

    def check_key(self, authorization: str | None) -> None:
        """A bearer token matching one of the keys (constant-time), when keys are configured."""
        if not self.api_keys:
            return
        scheme, _, token = (authorization or "").partition(" ")
        given = token.strip().encode("utf-8", "replace")
        matched = False
        for key in self.api_keys:
            matched |= hmac.compare_digest(given, key)
        if scheme.lower() != "bearer" or not matched:
            raise UnauthorizedError(
                "Incorrect or missing API key: send Authorization: Bearer <key>"
            )

    def check_model(self, name: str) -> None:
        if name != self.config.model:
            raise ModelNotFoundError(name, self.config.model)

    async def events(self, spec: JobSpec, streamed: bool) -> AsyncIterator[Event]:
        """Run ``spec``; yield Started, the text chunks, then Finished or Failed. Leaving the
        iteration early (a client that went away) cancels the job: its rows leave the batch."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Event] = asyncio.Queue()

        def sink(event: Event) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody listens any more
                loop.call_soon_threadsafe(queue.put_nowait, event)

        job = Job(spec, sink, streamed)
        self.engine.submit(job)
        done = False
        try:
            while not done:
                event = await queue.get()
                done = isinstance(event, Finished | Failed)
                yield event
        finally:
            if not done:
                job.cancel()
                self.engine.wake()


async def started(events: AsyncIterator[Event]) -> Started:
    """The first event: Started, or the job's error raised (before any response is sent)."""
    first = await anext(events)
    if isinstance(first, Failed):
        raise first.error
    assert isinstance(first, Started), first
    return first
