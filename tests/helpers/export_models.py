"""The export tests' model shapes and input helpers (their fixture is tests/trainer/export/conftest.py)."""

import numpy as np

from serving.contract import PREFILL_WIDTH
from trainer.model import state_names
from trainer.vocabulary import Vocabulary

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks? 你好 😀\n"
VOCAB = Vocabulary.from_text(TEXT)
SHAPES = {("gru", 1): (16,), ("gru", 3): (16, 8, 12), ("lstm", 1): (16,), ("lstm", 3): (8, 16, 12)}


def zeros(config, batch):
    return {name: np.zeros([batch, units], np.float32) for name, units in state_names(config)}


def padded(rows, width=PREFILL_WIDTH):
    out = np.zeros((len(rows), width), np.int32)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out
