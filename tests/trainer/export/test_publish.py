"""Publishing exports: integer versions never overwritten, assets that describe the model, checkpoints
and damaged runs."""

import json

import numpy as np
import pytest

from tests.helpers.session_model import SessionSignatures
from tests.helpers.export_models import VOCAB, padded, zeros
from trainer.checkpoints import write_checkpoint
from trainer.config import TrainingConfig
from trainer.errors import RunError
from trainer.export import export_checkpoint, export_run, export_saved_model
from trainer.model import build_model
from trainer.vocabulary import Vocabulary


def test_assets_describe_the_model(exported):
    config, _, path, _ = exported["gru", 3]
    meta = json.loads((path / "assets" / "charloom.json").read_text(encoding="utf-8"))
    assert meta["format"] == "charloom-model/1"
    assert meta["vocabulary"] == list(VOCAB.chars)
    assert meta["vocabulary_fingerprint"] == VOCAB.fingerprint
    assert TrainingConfig.from_mapping(meta["config"]) == config
    assert meta["metrics"]["val_bpc"] == 2.5 and meta["source"] == {"run": "test"}
    assert meta["created"].endswith("+00:00")
    assert Vocabulary.load(path / "assets") == VOCAB


def test_versions_increase_and_are_never_overwritten(tmp_path):
    base = tmp_path / "models"
    for name in ("1", "3", "notes", ".tmp-abandoned"):
        (base / name).mkdir(parents=True)
    (base / "3" / "keep").write_text("old")
    config = TrainingConfig(units=(4,), embedding_dim=2)
    model = build_model(config, VOCAB.size)
    assert export_saved_model(model, config, VOCAB, base).name == "4"
    assert export_saved_model(model, config, VOCAB, base).name == "5"
    assert (base / "3" / "keep").read_text() == "old"
    assert sorted(p.name for p in base.iterdir() if p.name.startswith(".tmp-")) == [".tmp-abandoned"]


def test_export_checkpoint_and_damaged_runs(tmp_path):
    config = TrainingConfig(cell="lstm", units=(6,), embedding_dim=3)
    model = build_model(config, VOCAB.size)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "run.json").write_text("{}")
    with pytest.raises(RunError, match="no best checkpoint"):
        export_run(run, tmp_path / "models")
    write_checkpoint(run / "best", model, config, VOCAB, epoch=2,
                     metrics={"val_bpc": 3.1, "val_loss": 2.15}, source={"run": str(run)})
    path = export_run(run, tmp_path / "models")
    meta = json.loads((path / "assets" / "charloom.json").read_text(encoding="utf-8"))
    assert meta["metrics"] == {"val_bpc": 3.1, "val_loss": 2.15, "epoch": 2}
    assert meta["source"]["run"] == str(run)
    ids = VOCAB.encode("soft")[None, :]
    loaded = SessionSignatures(path)
    out = loaded["prefill"](input_ids=padded(ids), lengths=np.array([4], np.int32), **zeros(config, 1))
    loaded.close()
    np.testing.assert_allclose(out["logits"][0], model(ids).numpy()[0, -1], atol=1e-5)
    path = export_checkpoint(run / "best", tmp_path / "models", extra_metadata={"trial_id": "t1"})
    meta = json.loads((path / "assets" / "charloom.json").read_text(encoding="utf-8"))
    assert path.name == "2" and meta["source"]["trial_id"] == "t1"

    with pytest.raises(RunError, match="does not exist"):
        export_run(tmp_path / "missing", tmp_path / "models")
    (run / "best" / "model.weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(RunError, match="cannot load weights"):
        export_run(run, tmp_path / "models")
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["1", "2"]
    (run / "best" / "checkpoint.json").write_text("{not json")
    with pytest.raises(RunError, match="corrupted"):
        export_run(run, tmp_path / "models")
    with pytest.raises(RunError, match="neither a run directory"):
        export_checkpoint(tmp_path / "models", tmp_path / "other")
