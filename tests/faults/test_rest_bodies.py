"""Large hostile REST bodies sent at once to a `charloom serve` process: each is a client error,
the server's memory grows by a bounded multiple of the bodies it handles at once, and health
checks keep answering meanwhile."""

from __future__ import annotations

import concurrent.futures
import time

import grpc
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc

from serving import defaults
from serving.server.rest.json_body import PEAK_BYTES_PER_BODY_BYTE
from serving.server.rest.server import BODIES_AT_ONCE
from tests.helpers.ports import free_port
from tests.helpers.processes import peak_rss_bytes

pytestmark = pytest.mark.e2e

BODY_BYTES = defaults.MAX_MESSAGE_BYTES - 4096
# Besides the bodies' multiple: memory the allocator keeps after a body (each REST thread has its
# own malloc arena, so two bodies handled one after the other on two threads may both stay mapped)
# and the runtime's own buffers.
ALLOCATOR_FACTOR = 2
RUNTIME_SLACK_BYTES = 64 * 1024 * 1024
# A probe may wait for one body's parse, which holds Python's lock (~0.5 s for 16 MiB here).
PROBE_LATENCY_BOUND_S = 2.0


def body_of(item: bytes, prefix: bytes = b"") -> bytes:
    return b"{" + prefix + b'"inputs": [' + item * (BODY_BYTES // len(item) - 1) + b"1]}"


BODIES = {
    "empty lists": body_of(b"[],"),
    "b64 objects": body_of(b'{"b64": ""},'),
    "short strings": body_of(b'"ab",'),
    # valid JSON of the most costly numbers, refused after parsing for its batch size
    "numbers": body_of(b"257,", b'"signature_name": "detokenize", '),
}


def test_hostile_bodies_at_once_cost_a_bounded_multiple_and_probes_keep_answering(serve_toy):
    server = serve_toy(args=["--rest-api-port", str(free_port())])
    url = f"http://127.0.0.1:{server.rest_port}/v1/models/charloom:predict"
    health = health_pb2_grpc.HealthStub(grpc.insecure_channel(server.target))
    health.Check(health_pb2.HealthCheckRequest(), timeout=10)
    before = peak_rss_bytes(server.pid)
    with concurrent.futures.ThreadPoolExecutor(len(BODIES) * 2) as pool:
        replies = {
            (name, i): pool.submit(requests.post, url, data=body, timeout=120)
            for name, body in BODIES.items()
            for i in range(2)
        }
        slowest = 0.0
        while not all(f.done() for f in replies.values()):
            started = time.monotonic()
            answer = health.Check(health_pb2.HealthCheckRequest(), timeout=10)
            slowest = max(slowest, time.monotonic() - started)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
            time.sleep(0.05)
    for key, future in replies.items():
        reply = future.result()
        assert reply.status_code == 400, (key, reply.text[:200])
        assert "error" in reply.json()
    growth = peak_rss_bytes(server.pid) - before
    bound = (
        ALLOCATOR_FACTOR * PEAK_BYTES_PER_BODY_BYTE * BODIES_AT_ONCE * BODY_BYTES
        + RUNTIME_SLACK_BYTES
    )
    print(
        f"peak RSS growth {growth / 2**20:.0f} MiB (bound {bound / 2**20:.0f}), slowest probe {slowest:.2f}s"
    )
    assert growth < bound
    assert slowest < PROBE_LATENCY_BOUND_S
