"""Whether a config can train on this machine at all: its parameters and one batch's activations
estimated from the sizes alone, refused with a ConfigError before TensorFlow allocates anything
(an RNN of a billion units would otherwise end in TensorFlow's out-of-memory traceback).

The estimate is a lower bound of what Keras needs (weights, their gradients and two optimizer
slots, plus the activations a batch keeps for the backward pass), compared with the machine's
physical memory: a config refused here cannot train here; one accepted may still be too large
for a GPU's memory, which TensorFlow reports itself.
"""

from __future__ import annotations

import os

from trainer.config import TrainingConfig
from trainer.errors import ConfigError

GATES = {"gru": 3, "lstm": 4}
FLOAT_BYTES = 4
COPIES_PER_WEIGHT = 4  # the weight, its gradient, and the optimizer's two slots (Adam)
GIB = 1 << 30


def parameter_count(config: TrainingConfig, vocab_size: int) -> int:
    """Embedding, each GRU/LSTM layer (Keras' kernels and biases) and the logits layer."""
    gates = GATES[config.cell]
    count = vocab_size * config.embedding_dim
    inputs = config.embedding_dim
    for units in config.units:
        count += gates * units * (inputs + units) + gates * units * (2 if gates == 3 else 1)
        inputs = units
    return count + inputs * vocab_size + vocab_size


def training_bytes(config: TrainingConfig, vocab_size: int) -> int:
    gates = GATES[config.cell]
    per_position = (
        config.embedding_dim + sum((gates + 2) * u for u in config.units) + 3 * vocab_size
    )
    activations = config.batch_size * config.seq_len * per_position * FLOAT_BYTES
    weights = parameter_count(config, vocab_size) * FLOAT_BYTES * COPIES_PER_WEIGHT
    return weights + activations


def physical_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits_in_memory(config: TrainingConfig, vocab_size: int) -> None:
    needed = training_bytes(config, vocab_size)
    available = physical_memory_bytes()
    if needed > available:
        raise ConfigError(
            f"this model does not fit in memory: training it needs at least {needed / GIB:.1f} "
            f"GiB ({parameter_count(config, vocab_size):,} parameters, batches of "
            f"{config.batch_size} x {config.seq_len} tokens over a vocabulary of {vocab_size}), "
            f"more than this machine's {available / GIB:.1f} GiB: use fewer units or layers, or a "
            "smaller batch_size or seq_len"
        )
