import numpy as np
import pytest

from trainer.dataset import (
    batches_per_epoch,
    check_fits,
    split_ids,
    training_dataset,
    validation_dataset,
    windows,
)
from trainer.errors import ConfigError


def test_split_is_the_tail_and_disjoint():
    ids = np.arange(1000, dtype=np.int32)
    split = split_ids(ids, 0.1)
    assert split.train.tolist() == list(range(900))
    assert split.validation.tolist() == list(range(900, 1000))


def test_windows_are_seq_len_plus_one():
    w = windows(np.arange(23, dtype=np.int32), seq_len=4)
    assert w.shape == (4, 5)
    assert w[1].tolist() == [5, 6, 7, 8, 9]


def test_input_target_shift_is_exact():
    ids = np.arange(10_000, dtype=np.int32) % 997
    ds = training_dataset(ids, seq_len=7, batch_size=5, seed=3, first_epoch=0, epochs=1)
    n = 0
    for inputs, targets in ds:
        assert inputs.shape == (5, 7) and targets.shape == (5, 7)
        assert inputs.dtype.name == "int32"
        np.testing.assert_array_equal(inputs.numpy()[:, 1:], targets.numpy()[:, :-1])
        # each row is a contiguous slice of the corpus: target[t] is the character after input[t]
        np.testing.assert_array_equal((inputs.numpy() + 1) % 997, targets.numpy())
        n += 1
    assert n == batches_per_epoch(len(ids), 7, 5)


def test_drop_remainder_and_step_cap():
    ids = np.arange(1000, dtype=np.int32)
    batches = list(training_dataset(ids, seq_len=9, batch_size=30, seed=0, first_epoch=0, epochs=2))
    assert len(batches) == 2 * (100 // 30)
    capped = list(training_dataset(ids, 9, 30, seed=0, first_epoch=0, epochs=2, steps_per_epoch=1))
    assert len(capped) == 2


def test_shuffle_is_seeded_per_epoch_so_resume_matches():
    ids = np.arange(20_000, dtype=np.int32)
    full = [x.numpy() for x, _ in training_dataset(ids, 9, 8, seed=5, first_epoch=0, epochs=3)]
    resumed = [x.numpy() for x, _ in training_dataset(ids, 9, 8, seed=5, first_epoch=2, epochs=3)]
    per_epoch = len(full) // 3
    for a, b in zip(full[2 * per_epoch :], resumed):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(full[0], full[per_epoch])  # epochs differ
    other = [x.numpy() for x, _ in training_dataset(ids, 9, 8, seed=6, first_epoch=0, epochs=1)]
    assert not np.array_equal(full[0], other[0])  # seeds differ


def test_validation_is_ordered_and_never_in_training():
    ids = np.arange(5000, dtype=np.int32)
    split = split_ids(ids, 0.2)
    seen_train = {
        int(v)
        for x, y in training_dataset(split.train, 9, 4, 0, 0, 1)
        for v in np.concatenate([x.numpy().ravel(), y.numpy().ravel()])
    }
    seen_val = {
        int(v)
        for x, y in validation_dataset(split.validation, 9, 4)
        for v in np.concatenate([x.numpy().ravel(), y.numpy().ravel()])
    }
    assert seen_train.isdisjoint(seen_val)
    first = next(iter(validation_dataset(split.validation, 9, 4)))[0].numpy()
    assert first[0].tolist() == list(range(4000, 4009))


def test_check_fits_names_the_problem():
    with pytest.raises(ConfigError, match="fewer than one batch"):
        check_fits(500, seq_len=100, batch_size=64, what="train")
    check_fits(64 * 101, seq_len=100, batch_size=64, what="train")


def test_order_does_not_depend_on_a_global_seed():
    import keras

    ids = np.arange(5000, dtype=np.int32)
    keras.utils.set_random_seed(123)
    first = next(iter(training_dataset(ids, 9, 8, seed=1, first_epoch=0, epochs=1)))[0].numpy()
    keras.utils.set_random_seed(456)
    second = next(iter(training_dataset(ids, 9, 8, seed=1, first_epoch=0, epochs=1)))[0].numpy()
    np.testing.assert_array_equal(first, second)
