"""BatchScheduler on its own: batch formation, splitting, the queue bound and shutdown."""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest

from serving.batching import BatchScheduler
from serving.model_config import BatchingOptions
from serving.status import ServingStatus


def submit(scheduler, results, key, runner, value, rows=1, deadline=None):
    def call():
        try:
            results[value] = scheduler.run(key, runner, {"x": np.full((rows, 2), value, np.float32)}, rows, deadline)
        except ServingStatus as exc:
            results[value] = exc
    thread = threading.Thread(target=call)
    thread.start()
    return thread


def test_queue_bound_and_shutdown():
    release = threading.Event()
    batches: list[int] = []

    def blocking_runner(inputs):
        batches.append(len(inputs["x"]))
        release.wait(10)
        return {"y": inputs["x"] * 2}

    scheduler = BatchScheduler(BatchingOptions(enabled=True, max_batch_size=2, batch_timeout_micros=0,
                                               num_batch_threads=1, max_enqueued_batches=1))
    results: dict[float, object] = {}
    threads = [submit(scheduler, results, "k", blocking_runner, 1.0)]
    while not batches:  # the first request occupies the only batch thread
        time.sleep(0.01)
    threads += [submit(scheduler, results, "k", blocking_runner, v) for v in (2.0, 3.0)]  # fill the queue (2 rows)
    time.sleep(0.1)
    threads.append(submit(scheduler, results, "k", blocking_runner, 4.0))
    threads[-1].join(10)
    assert isinstance(results[4.0], ServingStatus) and results[4.0].code == grpc.StatusCode.UNAVAILABLE
    assert "queue to which this task was submitted is full" in results[4.0].message
    release.set()
    for thread in threads:
        thread.join(10)
    assert batches == [1, 2]  # the queued two ran as one batch
    np.testing.assert_allclose(results[3.0]["y"], [[6.0, 6.0]])
    scheduler.stop()
    with pytest.raises(ServingStatus, match="shutting down"):
        scheduler.run("k", blocking_runner, {"x": np.zeros((1, 2), np.float32)}, 1, None)


def test_outputs_that_cannot_be_split_are_recomputed_per_request():
    scheduler = BatchScheduler(BatchingOptions(enabled=True, max_batch_size=4, batch_timeout_micros=200_000,
                                               num_batch_threads=1))
    results: dict[float, object] = {}
    threads = [submit(scheduler, results, "k", lambda inputs: {"total": inputs["x"].sum(keepdims=True)[0]}, v)
               for v in (1.0, 2.0)]
    for thread in threads:
        thread.join(10)
    scheduler.stop()
    # batched: rejected with the reason, then each request rerun alone and answered
    np.testing.assert_allclose(results[1.0]["total"], [2.0])
    np.testing.assert_allclose(results[2.0]["total"], [4.0])
