"""Waiting for a gRPC server to report SERVING (health service)."""

from __future__ import annotations

import time

import grpc


def wait_healthy(
    port: int,
    timeout: float = 60.0,
    service: str = "",
    credentials: grpc.ChannelCredentials | None = None,
    target_host: str = "127.0.0.1",
) -> None:
    """Block until the health service reports SERVING."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    target = f"{target_host}:{port}"
    deadline = time.monotonic() + timeout
    with (
        grpc.secure_channel(target, credentials) if credentials else grpc.insecure_channel(target)
    ) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"server on {target} not SERVING after {timeout}s")
            time.sleep(0.1)
