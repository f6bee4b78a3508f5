"""The export tests' models: one random model per (cell, layers), exported once and opened in a
Session, as TF Serving runs it (tests/helpers/session_model.py)."""

import pytest

from tests.helpers.export_cache import seeded_export
from tests.helpers.export_models import SHAPES, VOCAB
from tests.helpers.session_model import SessionSignatures
from trainer.config import TrainingConfig
from trainer.model import build_model


@pytest.fixture(scope="package")
def exported():
    """One trained-shaped (random, seeded weights) model per (cell, layers), exported once per
    run (tests/helpers/export_cache.py) and loaded."""
    out = {}
    for (cell, layers), units in SHAPES.items():
        config = TrainingConfig(cell=cell, num_layers=layers, units=units, embedding_dim=8)
        model, path = seeded_export(
            f"trainer/export {cell}{layers}",
            lambda config=config: build_model(config, VOCAB.size),
            config,
            VOCAB,
            {"metrics": {"val_bpc": 2.5}, "source": {"run": "test"}},
        )
        out[cell, layers] = (config, model, path, SessionSignatures(path))
    yield out
    for *_, signatures in out.values():
        signatures.close()
