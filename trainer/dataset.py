"""tf.data pipeline: held-out tail split, (input, target) windows, per-epoch seeded shuffles.

Each epoch's order depends only on ``(seed, epoch)``, so a run resumed at epoch k sees exactly
the batches an uninterrupted run would have seen from epoch k on.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from trainer.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Split:
    train: np.ndarray
    validation: np.ndarray


def split_ids(ids: np.ndarray, validation_fraction: float) -> Split:
    """Hold out the tail of the corpus; the two parts never share a character position."""
    if not 0.0 < validation_fraction < 1.0:
        raise ConfigError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    cut = int(round(len(ids) * (1.0 - validation_fraction)))
    return Split(train=ids[:cut], validation=ids[cut:])


def windows(ids: np.ndarray, seq_len: int) -> np.ndarray:
    """Non-overlapping windows of ``seq_len + 1`` ids: ``[n, seq_len + 1]``."""
    n = len(ids) // (seq_len + 1)
    return np.asarray(ids[: n * (seq_len + 1)], dtype=np.int32).reshape(n, seq_len + 1)


def split_input_target(chunk: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``[..., T+1] -> ([..., T], [..., T])``: the target is the input shifted by one character."""
    return chunk[..., :-1], chunk[..., 1:]


def batches_per_epoch(num_ids: int, seq_len: int, batch_size: int, cap: int | None = None) -> int:
    n = (num_ids // (seq_len + 1)) // batch_size
    return min(n, cap) if cap else n


def check_fits(num_ids: int, seq_len: int, batch_size: int, what: str) -> None:
    """Fail before training when a split cannot fill a single batch."""
    if batches_per_epoch(num_ids, seq_len, batch_size) < 1:
        raise ConfigError(
            f"the {what} split has {num_ids} characters, fewer than one batch of "
            f"{batch_size} windows of seq_len+1={seq_len + 1} needs "
            f"({batch_size * (seq_len + 1)}); lower seq_len or batch_size or use a longer corpus"
        )


def training_dataset(
    ids: np.ndarray,
    seq_len: int,
    batch_size: int,
    seed: int,
    first_epoch: int,
    epochs: int,
    steps_per_epoch: int | None = None,
) -> tf.data.Dataset:
    """One stream of the batches of epochs ``first_epoch..epochs-1``, each epoch shuffled by (seed, epoch)."""
    chunks = tf.constant(windows(ids, seq_len))
    steps = batches_per_epoch(len(ids), seq_len, batch_size, steps_per_epoch)

    def one_epoch(epoch: tf.Tensor) -> tf.data.Dataset:
        # Stateless: the order depends on (seed, epoch) only, never on a global seed or on how
        # many epochs this process has already run.
        order = tf.random.experimental.stateless_shuffle(
            chunks, seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        return (
            tf.data.Dataset.from_tensor_slices(order)
            .batch(batch_size, drop_remainder=True)
            .take(steps)
        )

    return (
        tf.data.Dataset.range(first_epoch, epochs)
        .flat_map(one_epoch)
        .map(split_input_target, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def validation_dataset(
    ids: np.ndarray, seq_len: int, batch_size: int, steps: int | None = None
) -> tf.data.Dataset:
    """Held-out batches in corpus order (no shuffle), the same every epoch."""
    ds = tf.data.Dataset.from_tensor_slices(windows(ids, seq_len)).batch(
        batch_size, drop_remainder=True
    )
    if steps:
        ds = ds.take(steps)
    return ds.map(split_input_target).cache().prefetch(tf.data.AUTOTUNE)
