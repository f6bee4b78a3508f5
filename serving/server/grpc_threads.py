"""Which thread runs a gRPC call, so that probes never wait behind Predict, slow senders included.

gRPC Python's synchronous server hands a call to a pool thread as soon as it starts, and a unary
handler's thread then waits for the request message: 140 Predict calls that hold back their
message would hold every thread. So the calls are split as TF Serving's C++ server never needs to:

- health checks and ModelService (GetModelStatus) run on a pool of their own (gRPC's per-method
  ``experimental_thread_pool``), which Predict can never occupy;
- PredictionService calls run on a pool of ``--max-concurrent-requests`` threads, and the
  interceptor, which gRPC runs on its polling thread before any pool thread is taken, refuses a
  call at once with RESOURCE_EXHAUSTED when that many are already started or waiting (the refusal
  reads no message, so a slow sender cannot hold it either).

Probes still share their own pool with each other: a client holding back the messages of more
than ``CONTROL_THREADS`` health checks at once delays the next one.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import grpc

CONTROL_THREADS = 16
PREDICTION_SERVICE = "tensorflow.serving.PredictionService"
PREDICTION_METHOD_PREFIX = f"/{PREDICTION_SERVICE}/"


class CountingExecutor(concurrent.futures.ThreadPoolExecutor):
    """A thread pool that knows how many calls it has started or queued and not finished."""

    def __init__(self, max_workers: int, thread_name_prefix: str) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self._count_lock = threading.Lock()
        self._outstanding = 0

    @property
    def outstanding(self) -> int:
        with self._count_lock:
            return self._outstanding

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any):
        def counted() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                with self._count_lock:
                    self._outstanding -= 1

        with self._count_lock:
            self._outstanding += 1
        try:
            return super().submit(counted)
        except BaseException:
            with self._count_lock:
                self._outstanding -= 1
            raise


def on_pool(
    behavior: Callable[[Any, grpc.ServicerContext], Any],
    pool: concurrent.futures.ThreadPoolExecutor,
) -> Callable[[Any, grpc.ServicerContext], Any]:
    """`behavior` as a handler that gRPC runs on `pool` instead of the server's default pool."""

    def run(request: Any, context: grpc.ServicerContext) -> Any:
        return behavior(request, context)

    run.experimental_thread_pool = pool  # type: ignore[attr-defined]
    return run


def servicer_on_pools(
    servicer: object, pools: dict[str, concurrent.futures.ThreadPoolExecutor]
) -> SimpleNamespace:
    """A stand-in for `servicer` (for the generated ``add_*_to_server``) whose methods, every one
    of the service named, run on the pools given."""
    return SimpleNamespace(
        **{name: on_pool(getattr(servicer, name), pool) for name, pool in pools.items()}
    )


class PredictionAdmission(grpc.ServerInterceptor):
    """Refuses a PredictionService call before it takes a thread once `limit` are outstanding."""

    def __init__(
        self,
        work_pool: CountingExecutor,
        limit: int,
        refusal_pool: concurrent.futures.ThreadPoolExecutor,
        message: str,
        on_refused: Callable[[str], None],
    ) -> None:
        self._work_pool = work_pool
        self._limit = limit
        self._message = message
        self._refusal_pool = refusal_pool
        self._on_refused = on_refused  # with the method's name ("Predict"), for the metrics

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if (
            handler is None
            or not handler_call_details.method.startswith(PREDICTION_METHOD_PREFIX)
            or self._work_pool.outstanding < self._limit
        ):
            return handler
        method = handler_call_details.method.rsplit("/", 1)[-1]

        def refuse(_requests: Any, context: grpc.ServicerContext) -> None:
            self._on_refused(method)
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, self._message)

        refuse.experimental_thread_pool = self._refusal_pool  # type: ignore[attr-defined]
        # request-streaming: gRPC calls it without waiting for a message that may never come
        return grpc.stream_unary_rpc_method_handler(
            refuse,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
