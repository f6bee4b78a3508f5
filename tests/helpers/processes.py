"""`charloom serve` as a child process for tests: start, wait for SERVING, inspect, kill, clean up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc
from tensorflow_serving.apis import prediction_service_pb2_grpc

from tests.helpers.ports import free_port
from tests.helpers.servers import wait_healthy

REPO = Path(__file__).resolve().parents[2]


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set size so far (Linux VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


class ServeProcess:
    """One `python -m charloom serve` on loopback; `stop()` (or the fixture) always reaps it."""

    def __init__(self, base_path: Path, args: Sequence[str] = (), port: int | None = None) -> None:
        self.base_path = Path(base_path)
        self.args = tuple(args)
        self.port = port or free_port()
        self._channel: grpc.Channel | None = None
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen:
        command = [
            sys.executable,
            "-m",
            "charloom",
            "serve",
            "--model-base-path",
            str(self.base_path),
            "--port",
            str(self.port),
            "--host",
            "127.0.0.1",
            "--grace-seconds",
            "1",
            *self.args,
        ]
        return subprocess.Popen(
            command,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def rest_port(self) -> int | None:
        """The --rest-api-port it was started with."""
        if "--rest-api-port" not in self.args:
            return None
        return int(self.args[self.args.index("--rest-api-port") + 1])

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 120.0) -> ServeProcess:
        try:
            wait_healthy(self.port, timeout=timeout)
        except TimeoutError:
            self.stop()
            raise TimeoutError(
                f"charloom serve never became SERVING; stderr: {self.stderr()[-2000:]}"
            ) from None
        return self

    def stub(self) -> prediction_service_pb2_grpc.PredictionServiceStub:
        if self._channel is None:
            self._channel = grpc.insecure_channel(
                self.target,
                options=[
                    ("grpc.max_send_message_length", 64 * 1024 * 1024),
                    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                ],
            )
        return prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no drain, no cleanup (a crash)."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def restart(self) -> ServeProcess:
        """Start again on the same port with the same arguments (after `kill`)."""
        self.process = self._spawn()
        return self

    def stderr(self) -> str:
        if self.alive():
            return ""
        return self.process.stderr.read() if self.process.stderr else ""

    def stop(self) -> str:
        """SIGTERM, then SIGKILL after 30 s; returns what it wrote to stderr."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            _, err = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        except ValueError:  # streams already read
            err = ""
        return err or ""
