"""Server-side batching: concurrent requests with compatible inputs share one model call.

Requests are queued by batch key (model, version, signature, input dtypes and non-batch dims,
outputs). A dispatcher forms a batch from a queue once it holds `max_batch_size` rows or its
oldest request has waited `batch_timeout_micros`, and only while one of `num_batch_threads`
workers is free, so under load requests pile up into bigger batches. Each batch runs once on the
inputs concatenated along axis 0 and every request gets its own rows of each output back.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Hashable, Mapping

import numpy as np

from serving.model_config import BatchingOptions
from serving.status import ServingStatus, deadline_exceeded, failed_precondition, unavailable

logger = logging.getLogger(__name__)
Runner = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]


@dataclass
class _Task:
    runner: Runner
    inputs: Mapping[str, np.ndarray]
    rows: int
    deadline: float | None  # time.monotonic() value
    enqueued: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    result: dict[str, np.ndarray] | None = None
    error: BaseException | None = None
    abandoned: bool = False

    def finish(self, result: dict[str, np.ndarray] | None = None, error: BaseException | None = None) -> None:
        self.result, self.error = result, error
        self.done.set()


@dataclass
class _Queue:
    """Tasks waiting for one batch key, with their row count kept up to date."""

    tasks: collections.deque[_Task] = field(default_factory=collections.deque)
    rows: int = 0

    def push(self, task: _Task) -> None:
        self.tasks.append(task)
        self.rows += task.rows

    def pop_batch(self, max_rows: int) -> list[_Task]:
        batch: list[_Task] = []
        taken = 0
        while self.tasks and taken + self.tasks[0].rows <= max_rows:
            task = self.tasks.popleft()
            batch.append(task)
            taken += task.rows
        self.rows -= taken
        return batch


class BatchScheduler:
    """Queues, a dispatcher thread and a worker pool; `run` blocks until the request's rows return."""

    def __init__(self, options: BatchingOptions, on_batch: Callable[[int], None] | None = None) -> None:
        self._options = options
        self._on_batch = on_batch
        self._queues: dict[Hashable, _Queue] = {}
        self._cond = threading.Condition()
        self._busy = 0
        self._stopped = False
        self._workers = concurrent.futures.ThreadPoolExecutor(
            max_workers=options.num_batch_threads, thread_name_prefix="batch")
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="batch-dispatcher", daemon=True)
        self._dispatcher.start()

    def run(self, key: Hashable, runner: Runner, inputs: Mapping[str, np.ndarray], rows: int,
            deadline: float | None) -> dict[str, np.ndarray]:
        """Run `inputs` (dimension 0 = `rows`) as part of a batch; requests above the max run alone."""
        if rows > self._options.max_batch_size or rows == 0:
            return runner(inputs)
        task = _Task(runner, inputs, rows, deadline)
        with self._cond:
            if self._stopped:
                raise unavailable("the server is shutting down")
            queue = self._queues.setdefault(key, _Queue())
            if queue.rows + rows > self._options.max_batch_size * self._options.max_enqueued_batches:
                raise unavailable("The batch scheduling queue to which this task was submitted is full")
            queue.push(task)
            self._cond.notify_all()
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not task.done.wait(timeout):
            with self._cond:
                task.abandoned = True
            raise deadline_exceeded("Deadline exceeded while waiting in the batching queue")
        if task.error is not None:
            raise task.error
        assert task.result is not None
        return task.result

    def _ready_queue(self, now: float) -> tuple[Hashable | None, float | None]:
        """A queue ready to batch, else the earliest time one becomes ready."""
        timeout = self._options.batch_timeout_micros / 1e6
        wake: float | None = None
        for key, queue in self._queues.items():
            if not queue.tasks:
                continue
            due = queue.tasks[0].enqueued + timeout
            if queue.rows >= self._options.max_batch_size or due <= now:
                return key, None
            wake = due if wake is None else min(wake, due)
        return None, wake

    def _dispatch_loop(self) -> None:
        with self._cond:
            while not self._stopped:
                key, wake = self._ready_queue(time.monotonic())
                if key is None or self._busy >= self._options.num_batch_threads:
                    self._cond.wait(None if wake is None or key is not None else max(0.0, wake - time.monotonic()))
                    continue
                batch = self._queues[key].pop_batch(self._options.max_batch_size)
                if not self._queues[key].tasks:
                    del self._queues[key]
                self._busy += 1
                self._workers.submit(self._run_batch, batch)

    def _run_batch(self, batch: list[_Task]) -> None:
        try:
            now = time.monotonic()
            live = []
            for task in batch:
                if task.abandoned or (task.deadline is not None and task.deadline <= now):
                    task.finish(error=deadline_exceeded("Deadline exceeded while waiting in the batching queue"))
                else:
                    live.append(task)
            if live:
                self._execute(live)
        finally:
            with self._cond:
                self._busy -= 1
                self._cond.notify_all()

    def _execute(self, batch: list[_Task]) -> None:
        total = sum(task.rows for task in batch)
        if self._on_batch:
            self._on_batch(total)
        try:
            if len(batch) == 1:
                batch[0].finish(batch[0].runner(batch[0].inputs))
                return
            merged = {name: np.concatenate([t.inputs[name] for t in batch], axis=0) for name in batch[0].inputs}
            outputs = batch[0].runner(merged)
            for name, array in outputs.items():
                if array.ndim == 0 or array.shape[0] != total:
                    raise failed_precondition(
                        f"Batched output tensor '{name}' has shape {list(array.shape)}: its 0th dimension "
                        f"does not equal the sum of the 0th dimension sizes of the input tensors ({total})")
            offset = 0
            for task in batch:
                task.finish({name: array[offset:offset + task.rows] for name, array in outputs.items()})
                offset += task.rows
        except ServingStatus:
            # One request's bad values (say, an id out of range) must not fail its batch mates:
            # run each request alone so only the offending one gets the error.
            for task in batch:
                self._run_alone(task)
        except Exception as exc:  # handed to each request thread, which logs it and answers INTERNAL
            for task in batch:
                task.finish(error=exc)

    @staticmethod
    def _run_alone(task: _Task) -> None:
        try:
            task.finish(task.runner(task.inputs))
        except Exception as exc:  # handed to the request thread, as above
            task.finish(error=exc)

    def stop(self) -> None:
        """Fail queued requests with UNAVAILABLE and wait for running batches."""
        with self._cond:
            self._stopped = True
            pending = [task for queue in self._queues.values() for task in queue.tasks]
            self._queues.clear()
            self._cond.notify_all()
        for task in pending:
            task.finish(error=unavailable("the server is shutting down"))
        self._dispatcher.join(timeout=5)
        self._workers.shutdown(wait=True)
