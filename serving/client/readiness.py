"""Waiting for a server to be ready before generating (the Makefile demo starts one alongside).

Asks the standard gRPC health service (``grpc.health.v1``, overall service "") until it reports
SERVING. Servers without a health service (stock TF Serving) answer UNIMPLEMENTED; then the
model's status from ModelService.GetModelStatus is polled until a version is AVAILABLE.
"""

from __future__ import annotations

import logging
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

from serving.client.errors import ServerNotReadyError

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25


def is_serving(channel: grpc.Channel, timeout: float = 2.0) -> bool:
    """One health check: does the server answer SERVING right now?"""
    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=timeout
        )
    except grpc.RpcError:
        return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def wait_until_serving(
    channel: grpc.Channel, target: str, model_name: str, wait_seconds: float
) -> None:
    """Block until ``target`` serves ``model_name``; ServerNotReadyError after ``wait_seconds``."""
    deadline = time.monotonic() + wait_seconds
    health = health_pb2_grpc.HealthStub(channel)
    models = model_service_pb2_grpc.ModelServiceStub(channel)
    use_health = True
    last = "no answer"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ServerNotReadyError(f"{target} was not ready within {wait_seconds:g}s ({last})")
        try:
            if use_health:
                reply = health.Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=min(remaining, 2.0)
                )
                last = f"health {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            else:
                reply = models.GetModelStatus(
                    get_model_status_pb2.GetModelStatusRequest(model_spec={"name": model_name}),
                    timeout=min(remaining, 2.0),
                )
                available = get_model_status_pb2.ModelVersionStatus.AVAILABLE
                last = f"model {model_name!r} has no AVAILABLE version"
                if any(v.state == available for v in reply.model_version_status):
                    return
        except grpc.RpcError as exc:
            if use_health and exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                log.info("%s has no health service; polling GetModelStatus instead", target)
                use_health = False
                continue
            last = f"{exc.code().name}: {exc.details()}"
        log.debug("waiting for %s: %s", target, last)
        time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0)))
