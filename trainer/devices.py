"""Which devices train: a MirroredStrategy over all visible GPUs, or over N logical CPU devices.

With exactly one device there is nothing to mirror, so TensorFlow's default strategy is used:
on a GRU-1024 a one-device MirroredStrategy cost 38 % of the training speed (bench/training.py).

Splitting the CPU into logical devices (``--replicas N``) exercises the multi-replica code path
(per-replica batches, all-reduce of gradients) on a machine without GPUs. TensorFlow only
accepts device and thread settings before its runtime starts, so this must run first.

GPUs get TensorFlow's memory growth: by default TensorFlow maps nearly all of a GPU's memory at
start, so two trials sharing a GPU (``--gpus-per-trial 0.5``) would leave the second none.
"""

from __future__ import annotations

import logging

import tensorflow as tf

from trainer.errors import ConfigError

logger = logging.getLogger(__name__)

TOO_LATE = (
    "TensorFlow has already initialised its devices in this process; configure "
    "replicas/threads before any other TensorFlow work (e.g. in a fresh process)"
)


def _set_threads(threads: int) -> None:
    if threads < 1:
        raise ConfigError(f"threads must be >= 1, got {threads}")
    current = (
        tf.config.threading.get_intra_op_parallelism_threads(),
        tf.config.threading.get_inter_op_parallelism_threads(),
    )
    if current == (threads, threads):
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        raise ConfigError(f"cannot set threads={threads}: {TOO_LATE}") from None


def _split_cpu(replicas: int) -> None:
    """Make ``replicas`` logical CPU devices (a no-op if the process already has that many)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    existing = tf.config.get_logical_device_configuration(cpu)
    if existing is not None and len(existing) >= replicas:
        return
    if existing is None and replicas == 1:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(replicas)]
        )
    except RuntimeError:
        have = len(existing) if existing else 1
        raise ConfigError(
            f"cannot split the CPU into {replicas} replicas (this process has {have}): {TOO_LATE}"
        ) from None


def enable_memory_growth(gpus: list) -> None:
    """Let TensorFlow take GPU memory as it needs it instead of all of it at start, so trials that
    share a GPU can coexist (each still fails cleanly with an out-of-memory error if together
    they need more than the GPU has)."""
    for gpu in gpus:
        try:
            if not tf.config.experimental.get_memory_growth(gpu):
                tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            raise ConfigError(f"cannot enable memory growth on {gpu.name}: {TOO_LATE}") from None


def configure_strategy(
    replicas: int | None = None, threads: int | None = None
) -> tf.distribute.Strategy:
    """A MirroredStrategy over all GPUs, or over ``replicas`` (default 1) logical CPU devices;
    the default strategy when that is a single device."""
    if replicas is not None and replicas < 1:
        raise ConfigError(f"replicas must be >= 1, got {replicas}")
    if threads is not None:
        _set_threads(threads)
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        if replicas not in (None, len(gpus)):
            raise ConfigError(
                f"--replicas {replicas} does not match the {len(gpus)} visible GPU(s); "
                f"use CUDA_VISIBLE_DEVICES to choose GPUs"
            )
        enable_memory_growth(gpus)
        devices = [f"/gpu:{i}" for i in range(len(gpus))]
    else:
        replicas = replicas or 1
        _split_cpu(replicas)
        devices = [f"/cpu:{i}" for i in range(replicas)]
    if len(devices) == 1:
        strategy = tf.distribute.get_strategy()  # the default: no replica context or all-reduce
    else:
        strategy = tf.distribute.MirroredStrategy(devices=devices)
    logger.info("training on %d replica(s): %s", strategy.num_replicas_in_sync, ", ".join(devices))
    return strategy
