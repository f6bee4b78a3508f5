"""The export tests' models: one random model per (cell, layers), exported once and opened in a
Session, as TF Serving runs it (tests/helpers/session_model.py)."""

import pytest

from tests.helpers.export_models import SHAPES, VOCAB
from tests.helpers.session_model import SessionSignatures
from trainer.config import TrainingConfig
from trainer.export import export_saved_model
from trainer.model import build_model


@pytest.fixture(scope="package")
def exported(tmp_path_factory):
    """One trained-shaped (random weights) model per (cell, layers), exported and loaded."""
    base = tmp_path_factory.mktemp("models")
    out = {}
    for (cell, layers), units in SHAPES.items():
        config = TrainingConfig(cell=cell, num_layers=layers, units=units, embedding_dim=8)
        model = build_model(config, VOCAB.size)
        path = export_saved_model(
            model,
            config,
            VOCAB,
            base / f"{cell}{layers}",
            {"metrics": {"val_bpc": 2.5}, "source": {"run": "test"}},
        )
        out[cell, layers] = (config, model, path, SessionSignatures(path))
    yield out
    for *_, signatures in out.values():
        signatures.close()
