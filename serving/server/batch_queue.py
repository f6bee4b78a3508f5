"""The queue of one signature under TF Serving's batching: requests, batches, and when one runs.

TensorFlow's SharedBatchScheduler queue (shared_batch_scheduler.h) and its large-request split
(input_split_metadata.cc): requests join the open batch until one does not fit; the open batch
runs when it is full or ``batch_timeout_micros`` old, a closed one at once; a queue holding
``max_enqueued_batches`` batches refuses more. See serving/server/batching.py for the rest.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from serving.server.config import BatchingOptions
from serving.server.status import ServingStatus, invalid_argument, unavailable

# Runs one merged batch: (inputs by tensor name, fetched tensor names, deadline) -> outputs in fetch order.
BatchRunner = Callable[[Mapping[str, np.ndarray], Sequence[str], "float | None"], list[np.ndarray]]


def input_size(inputs: Mapping[str, np.ndarray]) -> int:
    """Dimension 0 shared by every input (BatchingSession::ComputeInputSize)."""
    if not inputs:
        raise invalid_argument("Batching Run() must have at least one input tensor")
    sizes = set()
    for array in inputs.values():
        if array.ndim == 0:
            raise invalid_argument("Batching Run() input tensors must have at least one dimension")
        sizes.add(array.shape[0])
    if len(sizes) != 1:
        raise invalid_argument("Batching Run() input tensors must have equal 0th-dimension size")
    return int(sizes.pop())


def split_sizes(size: int, open_batch_remaining: int, limit: int) -> list[int]:
    """How a large request is cut (TensorFlow's InputSplitMetadata): first fill the open batch,
    then whole batches of ``limit`` rows, then the rest."""
    head = min(open_batch_remaining or limit, size)
    sizes = [head]
    left = size - head
    while left > 0:
        sizes.append(min(limit, left))
        left -= sizes[-1]
    return sizes


def round_to_allowed(sizes: Sequence[int], batch: int) -> int:
    for allowed in sizes:
        if allowed >= batch:
            return allowed
    return batch  # larger than the largest allowed size: TF Serving logs and runs it as is


@dataclass
class Request:
    """One Predict call waiting for its rows; split into several tasks when large."""

    deadline: float | None
    parts: list[dict[str, np.ndarray] | None]
    done: threading.Event = field(default_factory=threading.Event)
    error: ServingStatus | BaseException | None = None
    abandoned: bool = False
    remaining: int = 0

    def expired(self, now: float) -> bool:
        return self.abandoned or (self.deadline is not None and self.deadline <= now)

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self.done.set()

    def deliver(self, index: int, outputs: dict[str, np.ndarray]) -> None:
        self.parts[index] = outputs
        self.remaining -= 1
        if self.remaining == 0:
            self.done.set()


@dataclass
class Task:
    request: Request
    index: int
    inputs: Mapping[str, np.ndarray]
    size: int
    enqueued: float = 0.0  # time.monotonic() when it was queued (TF Serving's queuing latency)


@dataclass
class Batch:
    tasks: list[Task] = field(default_factory=list)
    size: int = 0

    def add(self, task: Task) -> None:
        self.tasks.append(task)
        self.size += task.size


class SignatureQueue:
    """The batches of one signature; the back batch is open, the others closed."""

    def __init__(
        self, options: BatchingOptions, runner: BatchRunner, fetches: tuple[str, ...]
    ) -> None:
        self.options = options
        self.runner = runner
        self.fetches = fetches
        self.batches: collections.deque[Batch] = collections.deque([Batch()])
        self.open_since = 0.0
        self.running = 0

    @property
    def limit(self) -> int:
        return self.options.execution_batch_size

    def schedule(
        self, request: Request, inputs: Mapping[str, np.ndarray], size: int, now: float
    ) -> None:
        """Add a request's task(s), or raise the error TF Serving's queue would."""
        options = self.options
        if size > options.max_batch_size:
            raise invalid_argument(
                f"Task size {size} is larger than maximum input batch size {options.max_batch_size}"
            )
        open_batch = self.batches[-1]
        if options.enable_large_batch_splitting:
            capacity = (
                (options.max_enqueued_batches - len(self.batches)) * self.limit
                + self.limit
                - open_batch.size
            )
            if size > capacity:
                raise unavailable(
                    f"The batch scheduling queue to which this task was submitted is full; task size is "
                    f"{size} but scheduling capacity is only {capacity} (num_enqueued_batches="
                    f"{len(self.batches)}, max_enqueued_batches={options.max_enqueued_batches}, "
                    f"open_batch_size={open_batch.size}, max_execution_batch_size={self.limit})"
                )
        elif (
            open_batch.size + size > options.max_batch_size
            and len(self.batches) >= options.max_enqueued_batches
        ):
            raise unavailable(
                f"The batch scheduling queue to which this task was submitted is full; currently "
                f"{len(self.batches)} batches enqueued and max_enqueued_batches is {options.max_enqueued_batches}"
            )
        if size <= self.limit - open_batch.size or not options.enable_large_batch_splitting:
            sizes = [size]
        else:
            sizes = split_sizes(size, self.limit - open_batch.size, self.limit)
        request.parts = [None] * len(sizes)
        request.remaining = len(sizes)
        offset = 0
        for index, part in enumerate(sizes):
            piece = (
                inputs
                if len(sizes) == 1
                else {n: a[offset : offset + part] for n, a in inputs.items()}
            )
            offset += part
            if self.batches[-1].size + part > self.limit:
                self.batches.append(Batch())
            if not self.batches[-1].tasks:
                self.open_since = now
            self.batches[-1].add(Task(request, index, piece, part, now))

    def take(self, now: float) -> Batch | None:
        """A batch ready to run, closing the open one if it is full or old enough."""
        open_batch = self.batches[-1]
        if (
            len(self.batches) == 1
            and open_batch.tasks
            and (
                open_batch.size >= self.limit
                or now >= self.open_since + self.options.batch_timeout_micros / 1e6
            )
        ):
            self.batches.append(Batch())
        if len(self.batches) >= 2:
            self.running += 1
            return self.batches.popleft()
        return None

    def due(self) -> float | None:
        """When the open batch times out, if it holds anything."""
        if len(self.batches) == 1 and self.batches[0].tasks:
            return self.open_since + self.options.batch_timeout_micros / 1e6
        return None

    def idle(self) -> bool:
        return self.running == 0 and len(self.batches) == 1 and not self.batches[0].tasks
