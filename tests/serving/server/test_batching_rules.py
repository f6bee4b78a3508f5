"""BatchScheduler on its own: TF Serving's batching rules and errors, one by one.

The expected messages are TF Serving's (batching_session.cc, batching_util.cc) and TensorFlow's
(shared_batch_scheduler.h, input_split_metadata.cc).
"""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest

from serving.server.batch_queue import split_sizes
from serving.server.batching import BatchScheduler
from serving.server.config import BatchingOptions
from serving.server.status import ServingStatus

FETCH = ("y",)


def doubling(seen: list | None = None, release: threading.Event | None = None):
    """A model that doubles ``x``; records each batch's ``x`` and may wait to be released."""

    def run(inputs, fetches, deadline):
        if seen is not None:
            seen.append(inputs["x"].copy())
        if release is not None:
            release.wait(10)
        return [inputs["x"] * 2]

    return run


def options(**values) -> BatchingOptions:
    return BatchingOptions(**{"enabled": True, "num_batch_threads": 1, **values})


def submit(scheduler, results, name, runner, x, deadline=None, key="k"):
    def call():
        try:
            results[name] = scheduler.run(key, runner, {"x": x}, FETCH, FETCH, deadline)["y"]
        except ServingStatus as exc:
            results[name] = exc

    thread = threading.Thread(target=call)
    thread.start()
    return thread


def run_together(scheduler, runner, inputs: dict, deadline=None) -> dict:
    """Submit all inputs at once (the batch timeout gathers them) and wait for every result."""
    results: dict = {}
    threads = [submit(scheduler, results, name, runner, x, deadline) for name, x in inputs.items()]
    for thread in threads:
        thread.join(15)
    return results


def assert_status(outcome, code, message):
    assert isinstance(outcome, ServingStatus), outcome
    assert outcome.code == code and message in outcome.message, outcome


def test_queue_bound_and_shutdown():
    release = threading.Event()
    seen: list = []
    scheduler = BatchScheduler(options(max_batch_size=2, max_enqueued_batches=1))
    results: dict = {}
    runner = doubling(seen, release)
    threads = [submit(scheduler, results, 1, runner, np.full((1, 2), 1.0))]
    while not seen:  # the first request occupies the only batch thread
        time.sleep(0.01)
    threads += [
        submit(scheduler, results, v, runner, np.full((1, 2), v)) for v in (2.0, 3.0)
    ]  # fill the open batch
    time.sleep(0.1)
    threads.append(submit(scheduler, results, 4.0, runner, np.full((1, 2), 4.0)))
    threads[-1].join(10)
    assert_status(
        results[4.0],
        grpc.StatusCode.UNAVAILABLE,
        "The batch scheduling queue to which this task was submitted is full; currently 1 batches "
        "enqueued and max_enqueued_batches is 1",
    )
    release.set()
    for thread in threads:
        thread.join(10)
    assert [len(x) for x in seen] == [1, 2]  # the queued two ran as one batch
    np.testing.assert_allclose(results[3.0], [[6.0, 6.0]])
    scheduler.stop()
    with pytest.raises(ServingStatus, match="shutting down"):
        scheduler.run("k", runner, {"x": np.zeros((1, 2))}, FETCH, FETCH, None)


def test_task_larger_than_max_batch_size_is_refused():
    scheduler = BatchScheduler(options(max_batch_size=4))
    with pytest.raises(
        ServingStatus, match="Task size 5 is larger than maximum input batch size 4"
    ) as caught:
        scheduler.run("k", doubling(), {"x": np.zeros((5, 1))}, FETCH, FETCH, None)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    scheduler.stop()


@pytest.mark.parametrize(
    "inputs, message",
    [
        (
            {"x": np.zeros((2, 1)), "z": np.zeros((3, 1))},
            "Batching Run() input tensors must have equal 0th-dimension size",
        ),
        ({"x": np.zeros(())}, "Batching Run() input tensors must have at least one dimension"),
        ({}, "Batching Run() must have at least one input tensor"),
    ],
)
def test_inputs_without_one_batch_dimension_are_refused(inputs, message):
    scheduler = BatchScheduler(options())
    with pytest.raises(
        ServingStatus, match=message.replace("(", r"\(").replace(")", r"\)")
    ) as caught:
        scheduler.run("k", doubling(), inputs, FETCH, FETCH, None)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    scheduler.stop()


def test_different_shapes_fail_the_whole_batch_unless_padding_is_on():
    inputs = {"short": np.array([[1, 1]]), "long": np.array([[2, 2, 2]])}
    scheduler = BatchScheduler(options(max_batch_size=8, batch_timeout_micros=300_000))
    results = run_together(scheduler, doubling(), inputs)
    scheduler.stop()
    for name in inputs:
        assert_status(
            results[name],
            grpc.StatusCode.FAILED_PRECONDITION,
            "Tensors with name 'x' from different tasks have different shapes and padding is turned "
            "off. Set pad_variable_length_inputs to true, or ensure that all tensors with the same "
            "name have equal dimensions starting with the first dim.",
        )

    seen: list = []
    scheduler = BatchScheduler(
        options(max_batch_size=8, batch_timeout_micros=300_000, pad_variable_length_inputs=True)
    )
    inputs = {"short": np.array([[5, 6]]), "long": np.array([[2, 3, 4]])}
    results = run_together(scheduler, doubling(seen), inputs)
    scheduler.stop()
    merged = seen[0].tolist()
    assert sorted(merged) == [[2, 3, 4], [5, 6, 5]]  # padded with the tensor's own first element
    np.testing.assert_array_equal(
        results["short"], [[10, 12, 10]]
    )  # a request gets the padded width back
    np.testing.assert_array_equal(results["long"], [[4, 6, 8]])


def test_allowed_batch_sizes_pad_the_batch_with_the_last_requests_first_row():
    seen: list = []
    scheduler = BatchScheduler(
        options(max_batch_size=8, batch_timeout_micros=300_000, allowed_batch_sizes=(4, 8))
    )
    inputs = {1.0: np.full((2, 1), 1.0), 3.0: np.array([[3.0], [7.0]]), 5.0: np.full((1, 1), 5.0)}
    results = run_together(scheduler, doubling(seen), inputs)
    scheduler.stop()
    assert len(seen) == 1 and len(seen[0]) == 8  # 5 rows padded to the next allowed size
    assert seen[0][5:].tolist() == [[seen[0][4][0]]] * 3  # copies of the last request's first row
    np.testing.assert_array_equal(results[3.0], [[6.0], [14.0]])
    np.testing.assert_array_equal(results[5.0], [[10.0]])


def test_large_batch_splitting_cuts_a_request_and_joins_its_outputs():
    assert split_sizes(10, 3, 4) == [3, 4, 3]
    assert split_sizes(8, 0, 4) == [4, 4]
    assert split_sizes(2, 3, 4) == [2]
    seen: list = []
    scheduler = BatchScheduler(
        options(max_batch_size=16, enable_large_batch_splitting=True, max_execution_batch_size=4)
    )
    x = np.arange(10.0).reshape(10, 1)
    out = scheduler.run("k", doubling(seen), {"x": x}, FETCH, FETCH, None)["y"]
    scheduler.stop()
    np.testing.assert_array_equal(out, x * 2)
    assert [len(b) for b in seen] == [4, 4, 2]


def test_a_model_error_fails_every_request_of_its_batch():
    def failing(inputs, fetches, deadline):
        raise ServingStatus(
            grpc.StatusCode.INVALID_ARGUMENT, "assertion failed: [input_ids outside the vocabulary]"
        )

    scheduler = BatchScheduler(options(max_batch_size=8, batch_timeout_micros=300_000))
    results = run_together(scheduler, failing, {n: np.zeros((1, 1)) for n in "abc"})
    scheduler.stop()
    for name in "abc":
        assert_status(results[name], grpc.StatusCode.INVALID_ARGUMENT, "outside the vocabulary")


def test_outputs_that_cannot_be_split_fail_the_batch():
    def summing(inputs, fetches, deadline):
        return [inputs["x"].sum(keepdims=True)[0]]  # one row, whatever the batch

    scheduler = BatchScheduler(options(max_batch_size=8, batch_timeout_micros=300_000))
    results = run_together(scheduler, summing, {n: np.ones((1, 1)) for n in "ab"})
    scheduler.stop()
    for name in "ab":
        assert_status(
            results[name],
            grpc.StatusCode.FAILED_PRECONDITION,
            "Batched output tensor's 0th dimension does not equal the sum of the 0th dimension sizes "
            "of the input tensors",
        )


def test_different_dtypes_in_one_batch_fail_it():
    scheduler = BatchScheduler(options(max_batch_size=8, batch_timeout_micros=300_000))
    results = run_together(
        scheduler, doubling(), {"f": np.ones((1, 1), np.float32), "i": np.ones((1, 1), np.int64)}
    )
    scheduler.stop()
    for name in "fi":
        assert_status(results[name], grpc.StatusCode.INVALID_ARGUMENT, "different data types")


def test_a_batch_whose_requests_all_expired_is_not_run():
    seen: list = []
    release = threading.Event()
    scheduler = BatchScheduler(options(max_batch_size=1))
    results: dict = {}
    blocker = submit(scheduler, results, "first", doubling(seen, release), np.ones((1, 1)))
    while not seen:
        time.sleep(0.01)
    late = submit(
        scheduler, results, "late", doubling(seen), np.ones((1, 1)), deadline=time.monotonic() + 0.2
    )
    late.join(5)
    assert_status(results["late"], grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline exceeded")
    release.set()
    blocker.join(5)
    time.sleep(0.2)
    scheduler.stop()
    assert len(seen) == 1  # the expired request's batch never reached the model
