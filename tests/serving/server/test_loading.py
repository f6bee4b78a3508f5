"""What a version directory may be: int64 names only, regular files only, and a load that hangs
cannot hold the poller (it is abandoned past its time limit, and later versions still load)."""

from __future__ import annotations

import os
import shutil
import threading
import time

import pytest
from tensorflow_serving.apis import get_model_status_pb2, model_pb2

from serving.contract import MAX_VERSION
from serving.saved_model import version_number
from serving.server.config import ModelConfig
from serving.server.loading import load_servable
from serving.server.servables import ServableManager, versions_on_disk

State = get_model_status_pb2.ModelVersionStatus.State


@pytest.mark.parametrize(
    "name, version",
    [
        ("1", 1),
        ("0007", 7),
        (str(MAX_VERSION), MAX_VERSION),
        (str(MAX_VERSION + 1), None),
        ("99999999999999999999", None),
        ("9" * 5000, None),
        ("-1", None),
        ("1.5", None),
        ("²", None),
    ],
)
def test_a_version_is_an_int64_of_ascii_digits(name, version):
    assert version_number(name) == version


def test_a_directory_named_beyond_int64_is_no_version(model_base, start_server):
    base = model_base(1)
    shutil.copytree(base / "1", base / "99999999999999999999")
    assert list(versions_on_disk(base)) == [1]
    handle = start_server(models=(ModelConfig("toy", base),))
    assert handle.manager.available_versions("toy") == [1]


def test_a_fifo_in_a_version_is_refused_at_once_and_later_versions_load(model_base):
    base = model_base(1, 2)
    index = base / "2" / "variables" / "variables.index"
    index.unlink()
    os.mkfifo(index)  # TensorFlow's read of it would wait for a writer forever
    manager = ServableManager((ModelConfig("toy", base),))
    started = time.monotonic()
    manager.poll_once()
    try:
        assert time.monotonic() - started < 30
        record = manager.version_states("toy")[2]
        assert record.state == State.END
        assert "variables.index is not a regular file" in record.error
        assert manager.available_versions("toy") == [1]  # served meanwhile: the fallback
    finally:
        manager.stop()


@pytest.mark.slow  # seconds of waiting (or an export of its own): not the inner loop
def test_a_load_that_hangs_is_abandoned_and_a_later_version_loads(model_base):
    base = model_base(1)
    release = threading.Event()
    released = []

    def loader(name, version, path):
        servable = load_servable(name, version, path)
        if version == 1:
            release.wait(60)
            servable.release = lambda: released.append(version)  # the abandoned load's cleanup
        return servable

    manager = ServableManager((ModelConfig("toy", base),), loader=loader, load_timeout_seconds=5)
    try:
        started = time.monotonic()
        manager.poll_once()
        assert time.monotonic() - started < 30
        record = manager.version_states("toy")[1]
        assert record.state == State.END
        assert "did not finish within 5 s" in record.error
        manager.poll_once()  # not retried while the directory is unchanged
        assert manager.version_states("toy")[1].state == State.END
        shutil.copytree(base / "1", base / "2")
        manager.poll_once()
        assert manager.available_versions("toy") == [2]
        with manager.acquire(model_pb2.ModelSpec(name="toy")) as servable:
            assert servable.version == 2
        release.set()
        deadline = time.monotonic() + 30
        while not released and time.monotonic() < deadline:
            time.sleep(0.05)
        assert released == [1]
    finally:
        release.set()
        manager.stop()
