"""The transport floor of one serving step: a bare Python gRPC unary round trip on loopback.

An echo server (sync grpcio, the same server type `charloom serve` uses) in its own process
answers a payload the size of a GRU-1024 step's response; nothing is decoded or computed. Every
gRPC step pays at least this on top of the model call.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import statistics
import time

PAYLOAD_BYTES = 4 * 1024 + 4 * 65 + 64  # state [1, 1024] float32 + logits [1, 65] + framing


def _serve(port: int, ready: multiprocessing.Event) -> None:
    import grpc

    payload = b"x" * PAYLOAD_BYTES
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "bench.Echo",
                {"Call": grpc.unary_unary_rpc_method_handler(lambda request, context: payload)},
            )
        ]
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    ready.set()
    server.wait_for_termination()


def round_trip_ms(port: int, calls: int = 2000, runs: int = 3) -> float:
    """Median over ``runs`` of the mean round trip of ``calls`` sequential unary calls."""
    import grpc

    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    process = context.Process(target=_serve, args=(port, ready), daemon=True)
    process.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("echo server did not start")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary("/bench.Echo/Call")
            request = b"x" * PAYLOAD_BYTES
            for _ in range(200):
                call(request)
            means = []
            for _ in range(runs):
                started = time.perf_counter()
                for _ in range(calls):
                    call(request)
                means.append((time.perf_counter() - started) * 1000 / calls)
        return statistics.median(means)
    finally:
        process.terminate()
        process.join(10)
