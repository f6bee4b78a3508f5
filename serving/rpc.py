"""The frame around every RPC body: status mapping, deadline check, metrics, logging of bugs."""

from __future__ import annotations

import logging
import time
from typing import Callable, TypeVar

import grpc

from serving.server_metrics import ServerMetrics
from serving.status import ServingStatus, deadline_exceeded

logger = logging.getLogger(__name__)
Response = TypeVar("Response")
_NO_DEADLINE_SECONDS = 10 * 365 * 24 * 3600


def deadline_of(context: grpc.ServicerContext) -> float | None:
    """The RPC's deadline as a time.monotonic() value (None: the client set none)."""
    remaining = context.time_remaining()
    if remaining is None or remaining > _NO_DEADLINE_SECONDS:
        return None  # grpc reports "no deadline" as a practically infinite remaining time
    return time.monotonic() + remaining


def handle_rpc(context: grpc.ServicerContext, metrics: ServerMetrics, api: str, model_name: str,
               body: Callable[[], Response]) -> Response:
    """Run `body`; ServingStatus -> its code, anything else -> INTERNAL with a logged traceback."""
    started = time.monotonic()
    status = grpc.StatusCode.OK
    try:
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            raise deadline_exceeded("Deadline Exceeded")
        return body()
    except ServingStatus as exc:
        status = exc.code
        logger.debug("%s on %r failed: %s %s", api, model_name, exc.code.name, exc.message)
        context.abort(exc.code, exc.message)
        raise  # unreachable: abort raises
    except Exception:
        status = grpc.StatusCode.INTERNAL
        logger.exception("%s on %r failed with a server error", api, model_name)
        context.abort(status, f"internal server error in {api}; see the server log")
        raise  # unreachable: abort raises
    finally:
        metrics.record_request(model_name, api, status.name, time.monotonic() - started)
