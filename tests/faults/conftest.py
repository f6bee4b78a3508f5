"""`serve_toy(...)`: a `charloom serve` process over a copy of the toy server model, always stopped."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def server_toy_base(tmp_path_factory):
    """A model base path with version 1 of a GRU-16 over ``abcde`` (read-only: copy before changing)."""
    from tests.helpers.toy_models import SERVER_CHARS, export_toy_model

    base = tmp_path_factory.mktemp("faults") / "charloom"
    export_toy_model(base, units=(16,), chars=SERVER_CHARS)
    return base


@pytest.fixture
def serve_toy(server_toy_base, tmp_path):
    """`serve_toy(batching=False, args=(), copy=False)` -> a SERVING ServeProcess."""
    from tests.helpers.processes import ServeProcess

    started = []

    def start(batching: bool = False, args=(), copy: bool = False) -> ServeProcess:
        base = server_toy_base
        if copy:
            base = tmp_path / "charloom"
            shutil.copytree(server_toy_base, base)
        extra = ["--enable-batching"] if batching else []
        process = ServeProcess(base, [*extra, *args])
        started.append(process)
        return process.wait_ready()

    yield start
    for process in started:
        process.stop()
