"""A tuning cluster on loopback for the cluster tests: an S3-compatible server (moto's server
mode) and Ray nodes started with `ray start --block` in their own sessions, so that one node can
be killed whole (raylet, object store, workers) and every process is reaped at the end."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.helpers.ports import free_port
from tests.helpers.tune_runs import env as tune_env

BIN = Path(sys.executable).parent
BUCKET = "charloom"


@contextlib.contextmanager
def s3_server() -> Iterator[dict[str, str]]:
    """A moto S3 server on 127.0.0.1 with bucket ``charloom``; yields the environment that points
    boto3 and Ray's pyarrow S3 filesystem at it."""

    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    environment = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.1)
        s3(environment).create_bucket(Bucket=BUCKET)
        yield environment
    finally:
        process.kill()
        process.wait()


def s3(environment: dict[str, str]):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=environment["AWS_ENDPOINT_URL"],
        aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
        region_name=environment["AWS_DEFAULT_REGION"],
    )


def s3_keys(environment: dict[str, str], prefix: str) -> list[str]:
    pages = s3(environment).get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def s3_json_lines(environment: dict[str, str], key: str) -> list[dict]:
    body = s3(environment).get_object(Bucket=BUCKET, Key=key)["Body"].read().decode("utf-8")
    return [json.loads(line) for line in body.splitlines() if line.strip()]


class RayNode:
    """One `ray start --block` (head or worker) in its own session: `kill()` loses the node."""

    def __init__(self, environment: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [str(BIN / "ray"), "start", "--block", "--disable-usage-stats", "--num-cpus=1", *args],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@contextlib.contextmanager
def ray_cluster(s3_environment: dict[str, str]) -> Iterator[tuple[str, dict[str, str], RayNode]]:
    """A head and a second node (1 CPU each) with token authentication; yields the head's
    address, the environment a driver needs, and the second node (to kill)."""
    port = free_port()
    environment = {
        **tune_env(),
        **s3_environment,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
    }
    temp_dir = tempfile.mkdtemp(prefix="r", dir="/tmp")  # short: Ray's socket paths have a limit
    head = RayNode(
        environment,
        "--head",
        f"--port={port}",
        "--include-dashboard=false",
        f"--temp-dir={temp_dir}",
    )
    nodes = [head]
    address = f"127.0.0.1:{port}"
    try:
        wait_nodes(address, environment, 1)
        worker = RayNode(environment, f"--address={address}")
        nodes.append(worker)
        wait_nodes(address, environment, 2)
        yield address, environment, worker
    finally:
        for node in reversed(nodes):
            node.kill()
        subprocess.run(["rm", "-rf", temp_dir], check=False)


def wait_nodes(address: str, environment: dict[str, str], count: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = subprocess.run(
            [str(BIN / "ray"), "status", f"--address={address}"],
            env=environment,
            capture_output=True,
            text=True,
        )
        active = status.stdout.split("Active:")[-1].split("Pending:")[0]
        if status.returncode == 0 and active.count("node_") >= count:
            return
        time.sleep(1)
    raise RuntimeError(f"the Ray cluster at {address} did not reach {count} nodes")
