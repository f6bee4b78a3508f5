"""A `charloom serve` subprocess and N concurrent generation streams against it.

Streams run in client processes (threads inside each), so the client's own Python does not share
one GIL with 64 streams; every chunk (one character, or a block of them when the model samples
several per call) is timestamped with the system-wide monotonic clock, which gives aggregate
characters/s and per-character and per-chunk latency percentiles.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.lib.common import CHARLOOM, REPO, BackgroundProcess, free_port, percentile
from serving import defaults


class ServerProcess(BackgroundProcess):
    """`charloom serve` on loopback, started with the given flags, ready when constructed."""

    def __init__(
        self, model_base_path: Path, batching: bool, extra_flags: tuple[str, ...] = ()
    ) -> None:
        self.port, self.monitoring_port = free_port(), free_port()
        self.target = f"127.0.0.1:{self.port}"
        command = [
            CHARLOOM,
            "serve",
            "--model-base-path",
            str(model_base_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--rest-api-port",
            str(self.monitoring_port),
            "--file-system-poll-wait-seconds",
            "0",
            *extra_flags,
        ]
        if batching:
            command.append("--enable-batching")
        self.log_path = (
            Path(os.environ.get("TMPDIR", "/tmp")) / f"charloom-bench-serve-{self.port}.log"
        )
        self._log = open(self.log_path, "w")
        self._process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO
        )
        from serving.client.generator import GenerationClient

        with GenerationClient(self.target, timeout=30) as client:
            client.wait_until_ready(180)

    def batch_size_totals(self) -> tuple[float, float]:
        """(sum, count) of the processed-batch-size histogram, for a mean over an interval."""
        url = f"http://127.0.0.1:{self.monitoring_port}/monitoring/prometheus/metrics"
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        total = re.search(
            r"^:tensorflow:serving:batching_session:processed_batch_size_sum\S* (\S+)$", text, re.M
        )
        count = re.search(
            r"^:tensorflow:serving:batching_session:processed_batch_size_count\S* (\S+)$",
            text,
            re.M,
        )
        return (float(total.group(1)) if total else 0.0, float(count.group(1)) if count else 0.0)


def _client_process(
    target: str,
    threads: int,
    steps: int,
    prompt: str,
    seed_base: int,
    steps_per_call: int,
    ready: multiprocessing.Queue,
    start: multiprocessing.Event,
    results: multiprocessing.Queue,
) -> None:
    from serving.client.generator import GenerationClient

    client = GenerationClient(target, timeout=120, steps_per_call=steps_per_call)
    client.generate(prompt, max_new_tokens=3, seed=0)  # connect, learn signatures and vocabulary
    ready.put(os.getpid())
    start.wait()

    def one_stream(index: int) -> list[tuple[float, int]]:
        stamps = [(time.monotonic(), 0)]
        for chunk in client.stream(prompt, max_new_tokens=steps, seed=seed_base + index):
            stamps.append((time.monotonic(), len(chunk.text)))
        return stamps

    with ThreadPoolExecutor(threads) as pool:
        results.put(list(pool.map(one_stream, range(threads))))
    client.close()


@dataclass
class StreamsResult:
    streams: int
    chars: int
    seconds: float
    chars_per_sec: float
    mean_ms: float
    p50_ms: float
    p99_ms: float
    chunk_p50_ms: float
    chunk_p99_ms: float
    steps_per_call: int
    mean_batch_size: float | None


def run_streams(
    server: ServerProcess,
    streams: int,
    steps: int,
    prompt: str = "ROMEO:",
    client_processes: int = 2,
    steps_per_call: int = defaults.STEPS_PER_CALL,
) -> StreamsResult:
    """``streams`` concurrent generations of ``steps`` characters, spread over client processes,
    each Predict call sampling ``steps_per_call`` characters (1 = one step call per character)."""
    context = multiprocessing.get_context("spawn")
    processes = max(1, min(client_processes, streams))
    shares = [
        streams // processes + (1 if i < streams % processes else 0) for i in range(processes)
    ]
    ready, results, start = context.Queue(), context.Queue(), context.Event()
    workers = [
        context.Process(
            target=_client_process,
            args=(
                server.target,
                share,
                steps,
                prompt,
                1000 * i,
                steps_per_call,
                ready,
                start,
                results,
            ),
        )
        for i, share in enumerate(shares)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=300)
    before = server.batch_size_totals()
    start.set()
    stamps = [s for _ in workers for s in results.get(timeout=1800)]
    after = server.batch_size_totals()
    for worker in workers:
        worker.join(60)
    begin, end = min(s[0][0] for s in stamps), max(s[-1][0] for s in stamps)
    # Latency per character: the gap between consecutive chunks of a stream over the characters
    # the later chunk brought, one value per character (the first chunk, which includes the
    # prompt's prefill, is left out). `chunk_*` are the gaps themselves: the wait a reader sees.
    gaps, chunk_gaps = [], []
    for s in stamps:
        for (a, _), (b, n) in zip(s[1:], s[2:]):
            chunk_gaps.append((b - a) * 1000)
            gaps.extend([(b - a) * 1000 / n] * n)
    chars = sum(n for s in stamps for _, n in s)
    batches = after[1] - before[1]
    return StreamsResult(
        streams=streams,
        chars=chars,
        seconds=end - begin,
        chars_per_sec=chars / (end - begin),
        mean_ms=sum(gaps) / len(gaps),
        p50_ms=percentile(gaps, 50),
        p99_ms=percentile(gaps, 99),
        chunk_p50_ms=percentile(chunk_gaps, 50),
        chunk_p99_ms=percentile(chunk_gaps, 99),
        steps_per_call=steps_per_call,
        mean_batch_size=(after[0] - before[0]) / batches if batches else None,
    )
