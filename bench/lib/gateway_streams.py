"""Concurrent streaming completions against a gateway, timed per stream, from a client process
of its own (so the client's Python does not share the gateway's cores' interpreter)."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.lib.common import CHARLOOM, REPO, BackgroundProcess, free_port


class GatewayProcess(BackgroundProcess):
    """`charloom gateway` on loopback in front of ``target``, ready when constructed."""

    def __init__(self, target: str, extra_flags: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path("/tmp") / f"charloom-bench-gateway-{self.port}.log"
        self._log = open(self.log_path, "w")
        self._process = subprocess.Popen(
            [
                CHARLOOM,
                "gateway",
                "--target",
                target,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--grpc-port",
                "-1",
                *extra_flags,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(self.url + "/ready", timeout=5) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError(f"the gateway did not get ready; see {self.log_path}")
            time.sleep(0.2)

    def metric(self, name: str) -> float:
        text = urllib.request.urlopen(self.url + "/metrics", timeout=10).read().decode()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0


def _one_stream(url: str, index: int, tokens: int, prompt: str) -> dict:
    body = json.dumps(
        {"model": "charloom", "prompt": prompt, "max_tokens": tokens, "seed": index, "stream": True}
    ).encode()
    request = urllib.request.Request(
        url + "/v1/completions", data=body, headers={"Content-Type": "application/json"}
    )
    started = time.perf_counter()
    first = last = None
    chars = 0
    with urllib.request.urlopen(request, timeout=600) as reply:
        for line in reply:
            if not line.startswith(b"data: {"):
                continue
            choices = json.loads(line[6:])["choices"]
            if choices and choices[0]["text"]:
                now = time.perf_counter()
                first = first if first is not None else now
                last = now
                chars += len(choices[0]["text"])
    return {"started": started, "first": first, "last": last, "chars": chars}


def _client(url: str, streams: int, tokens: int, prompt: str) -> list[dict]:
    with ThreadPoolExecutor(streams) as pool:
        return list(pool.map(lambda i: _one_stream(url, i, tokens, prompt), range(streams)))


def run_gateway_streams(url: str, streams: int, tokens: int, prompt: str) -> list[dict]:
    """``streams`` concurrent streamed completions of ``tokens`` tokens each, from one client
    process; per stream its start, first and last text times (perf_counter) and characters."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_client, (url, streams, tokens, prompt))
