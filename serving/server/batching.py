"""Server-side batching with TensorFlow Serving's rules and errors.

TF Serving wraps each loaded version's session in a BatchingSession (tensorflow_serving/batching/
batching_session.cc) on a SharedBatchScheduler (tensorflow/core/kernels/batching_util/
shared_batch_scheduler.h); this module reproduces what a client can observe of them:

- One queue per signature: requests whose feed and fetch tensor names are the same sets.
- A request's size is dimension 0 of its inputs, which must all have one (INVALID_ARGUMENT
  otherwise). Above ``max_batch_size`` it is refused (``Task size N is larger than maximum input
  batch size M``); with ``enable_large_batch_splitting`` it is cut into pieces that fill the open
  batch and then batches of ``max_execution_batch_size``, and its outputs are joined again.
- Requests join the open batch until the next does not fit; a batch runs when it is closed, full,
  or ``batch_timeout_micros`` after its first request, on one of ``num_batch_threads`` threads,
  round-robin over the queues. A queue already holding ``max_enqueued_batches`` batches refuses
  more (UNAVAILABLE).
- A batch's inputs are concatenated along dimension 0. Other dimensions must be equal
  (FAILED_PRECONDITION for the whole batch) unless ``pad_variable_length_inputs`` pads every
  tensor to the batch's largest with its own first element. ``allowed_batch_sizes`` pads the
  batch with copies of the last request's first row up to the next allowed size.
- One model call runs the batch; any error fails every request in it. Outputs must have
  dimension 0 equal to the batch size (FAILED_PRECONDITION otherwise) and are split back.
- A batch whose requests have all outlived their deadlines is not run (RESOURCE_EXHAUSTED).

Departures, each invisible to a well-behaved client: a request whose client gave up (deadline
passed) is left out of its batch instead of computed for nobody; requests of different dtypes in
one batch fail with INVALID_ARGUMENT where TF Serving answers INTERNAL (its concatenation fails).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence

import numpy as np

from serving.server.batch_queue import (
    Batch,
    BatchRunner,
    Request,
    SignatureQueue,
    Task,
    input_size,
    round_to_allowed,
)
from serving.server.config import BatchingOptions
from serving.server.status import (
    deadline_exceeded,
    failed_precondition,
    invalid_argument,
    resource_exhausted,
    unavailable,
)

logger = logging.getLogger(__name__)
MAX_PADDED_RANK = 6


class BatchScheduler:
    """Queues per signature and a shared pool of batch threads; `run` blocks for its outputs."""

    def __init__(
        self,
        options: BatchingOptions,
        on_batch: Callable[[list[int], int], None] | None = None,
        on_dequeue: Callable[[float], None] | None = None,
    ) -> None:
        """``on_batch(task sizes, rows run)`` for each batch run; ``on_dequeue(seconds)`` for each
        task taken off its queue, with the time it waited there."""
        self._options = options
        self._on_batch = on_batch
        self._on_dequeue = on_dequeue
        self._queues: dict[Hashable, SignatureQueue] = {}
        self._cond = threading.Condition()
        self._stopped = False
        self._next = 0  # round-robin position over the queues
        self._threads = [
            threading.Thread(target=self._work, name=f"batch-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def run(
        self,
        key: Hashable,
        runner: BatchRunner,
        inputs: Mapping[str, np.ndarray],
        fetches: tuple[str, ...],
        wanted: Sequence[str],
        deadline: float | None,
    ) -> dict[str, np.ndarray]:
        """Run ``inputs`` as part of a batch of the queue ``key`` (one per signature; ``fetches``
        are all its outputs) and return the ``wanted`` outputs of this request's rows."""
        size = input_size(inputs)
        request = Request(deadline, [])
        with self._cond:
            if self._stopped:
                raise unavailable("the server is shutting down")
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = SignatureQueue(self._options, runner, fetches)
            queue.schedule(request, inputs, size, time.monotonic())
            self._cond.notify_all()
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not request.done.wait(timeout):
            request.abandoned = True
            raise deadline_exceeded("Deadline exceeded while waiting in the batching queue")
        if request.error is not None:
            raise request.error
        parts = [p for p in request.parts if p is not None]
        if len(parts) == 1:
            return {name: parts[0][name] for name in wanted}
        return {name: np.concatenate([p[name] for p in parts], axis=0) for name in wanted}

    # -- batch threads ----------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                found = self._find_batch()
                while found is None:
                    if self._stopped:
                        return
                    self._cond.wait(self._wait_seconds())
                    found = self._find_batch()
            queue, batch = found
            try:
                self._process(queue, batch)
            finally:
                with self._cond:
                    queue.running -= 1
                    self._forget_idle()
                    self._cond.notify_all()

    def _find_batch(self) -> tuple[SignatureQueue, Batch] | None:
        queues = list(self._queues.values())
        now = time.monotonic()
        for offset in range(len(queues)):
            queue = queues[(self._next + offset) % len(queues)]
            batch = queue.take(now)
            if batch is not None:
                self._next = (self._next + offset + 1) % len(queues)
                return queue, batch
        return None

    def _wait_seconds(self) -> float | None:
        dues = [d for d in (q.due() for q in self._queues.values()) if d is not None]
        return None if not dues else max(0.0, min(dues) - time.monotonic())

    def _forget_idle(self) -> None:
        for key in [k for k, q in self._queues.items() if q.idle()]:
            del self._queues[key]

    def _process(self, queue: SignatureQueue, batch: Batch) -> None:
        now = time.monotonic()
        if self._on_dequeue:
            for task in batch.tasks:
                self._on_dequeue(now - task.enqueued)
        if all(task.request.expired(now) for task in batch.tasks):
            error = resource_exhausted("Run() timeout exceeded while waiting in batching queue")
            for task in batch.tasks:
                task.request.fail(error)
            return
        tasks = [
            task
            for task in batch.tasks
            if not task.request.abandoned and task.request.error is None
        ]
        if not tasks:
            return
        try:
            merged, total = self._merge(tasks)
            if self._on_batch:
                self._on_batch([task.size for task in tasks], total)
            deadlines = [t.request.deadline for t in tasks]
            deadline = None if None in deadlines else max(deadlines)  # type: ignore[type-var]
            outputs = queue.runner(merged, queue.fetches, deadline)
            self._split(tasks, queue.fetches, outputs, total)
        except Exception as exc:  # noqa: BLE001 - every request of the batch gets the batch's error
            for task in tasks:
                task.request.fail(exc)

    def _merge(self, tasks: list[Task]) -> tuple[dict[str, np.ndarray], int]:
        """Concatenate the tasks' inputs (MergeInputTensors), padded as configured."""
        options = self._options
        names = list(tasks[0].inputs)
        size = sum(task.size for task in tasks)
        total = round_to_allowed(options.allowed_batch_sizes, size)
        merged = {}
        for name in names:
            arrays = [task.inputs[name] for task in tasks]
            if len({a.dtype.kind if a.dtype == object else a.dtype for a in arrays}) > 1:
                raise invalid_argument(
                    f"Tensor concat operation failed: tensors with name '{name}' from "
                    "different tasks have different data types"
                )
            if options.pad_variable_length_inputs:
                arrays = _pad_to_largest(arrays)
            elif any(
                a.ndim != arrays[0].ndim or a.shape[1:] != arrays[0].shape[1:] for a in arrays
            ):
                raise failed_precondition(
                    f"Tensors with name '{name}' from different tasks have different shapes and padding is "
                    "turned off. Set pad_variable_length_inputs to true, or ensure that all tensors with "
                    "the same name have equal dimensions starting with the first dim."
                )
            if total > size:
                arrays.append(np.repeat(arrays[-1][:1], total - size, axis=0))
            merged[name] = arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=0)
        return merged, total

    @staticmethod
    def _split(
        tasks: list[Task], fetches: Sequence[str], outputs: list[np.ndarray], total: int
    ) -> None:
        """Give each task its rows of every output (SplitOutputTensors)."""
        for array in outputs:
            if array.ndim == 0:
                raise failed_precondition("Batched output tensor has 0 dimensions")
            if array.shape[0] != total:
                raise failed_precondition(
                    "Batched output tensor's 0th dimension does not equal the sum of "
                    "the 0th dimension sizes of the input tensors"
                )
        offset = 0
        for task in tasks:
            task.request.deliver(
                task.index,
                {name: array[offset : offset + task.size] for name, array in zip(fetches, outputs)},
            )
            offset += task.size

    def stop(self) -> None:
        """Fail queued requests with UNAVAILABLE and wait for running batches."""
        with self._cond:
            self._stopped = True
            pending = [
                task
                for queue in self._queues.values()
                for batch in queue.batches
                for task in batch.tasks
            ]
            for queue in self._queues.values():
                queue.batches = collections.deque([Batch()])
            self._cond.notify_all()
        for task in pending:
            task.request.fail(unavailable("the server is shutting down"))
        for thread in self._threads:
            thread.join(timeout=10)


def _pad_to_largest(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Pad dimensions 1.. of each tensor to the largest, with the tensor's own first element."""
    rank = arrays[0].ndim
    if any(a.ndim != rank for a in arrays):
        raise failed_precondition(
            "Tensors with the same name from different tasks have different ranks"
        )
    largest = [max(a.shape[d] for a in arrays) for d in range(rank)]
    padded = []
    for array in arrays:
        missing = [(0, 0)] + [(0, largest[d] - array.shape[d]) for d in range(1, rank)]
        if not any(after for _, after in missing):
            padded.append(array)
            continue
        if rank > MAX_PADDED_RANK:
            raise invalid_argument("Only tensors with rank from 1 to 6 can be padded.")
        if array.size == 0:
            raise invalid_argument("Got empty tensor in batch of non-empty tensors.")
        padded.append(np.pad(array, missing, mode="constant", constant_values=array.reshape(-1)[0]))
    return padded
