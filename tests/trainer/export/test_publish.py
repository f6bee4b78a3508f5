"""Publishing exports: integer versions never overwritten, assets that describe the model, checkpoints
and damaged runs."""

import json

import numpy as np
import pytest

from tests.helpers.export_models import VOCAB, padded, zeros
from tests.helpers.session_model import SessionSignatures
from trainer.checkpoints import write_checkpoint
from trainer.config import TrainingConfig
from trainer.errors import RunError
from trainer.export import export_checkpoint, export_run, export_saved_model
from trainer.model import build_model
from trainer.vocabulary import Vocabulary

pytestmark = pytest.mark.slow


def test_assets_describe_the_model(exported):
    config, _, path, _ = exported["gru", 3]
    meta = json.loads((path / "assets" / "charloom.json").read_text(encoding="utf-8"))
    assert meta["format"] == "charloom-model/1"
    assert meta["vocabulary"] == list(VOCAB.tokens)
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
    assert sorted(p.name for p in base.iterdir() if p.name.startswith(".tmp-")) == [
        ".tmp-abandoned"
    ]


def test_export_checkpoint_and_damaged_runs(tmp_path):
    config = TrainingConfig(cell="lstm", units=(6,), embedding_dim=3)
    model = build_model(config, VOCAB.size)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "run.json").write_text("{}")
    with pytest.raises(RunError, match="no best checkpoint"):
        export_run(run, tmp_path / "models")
    write_checkpoint(
        run / "best",
        model,
        config,
        VOCAB,
        epoch=2,
        metrics={"val_bpc": 3.1, "val_loss": 2.15},
        source={"run": str(run)},
    )
    path = export_run(run, tmp_path / "models")
    meta = json.loads((path / "assets" / "charloom.json").read_text(encoding="utf-8"))
    assert meta["metrics"] == {"val_bpc": 3.1, "val_loss": 2.15, "epoch": 2}
    assert meta["source"]["run"] == str(run)
    ids = VOCAB.encode("soft")[None, :]
    loaded = SessionSignatures(path)
    out = loaded["prefill"](
        input_ids=padded(ids), lengths=np.array([4], np.int32), **zeros(config, 1)
    )
    loaded.close()
    np.testing.assert_allclose(out["logits"][0], model(ids).numpy()[0, -1], atol=1e-5)
    path = export_checkpoint(run / "best", tmp_path / "models", extra_metadata={"trial_id": "t1"})
    meta = json.loads((path / "assets" / "charloom.json").read_text(encoding="utf-8"))
    assert path.name == "2" and meta["source"]["trial_id"] == "t1"

    with pytest.raises(RunError, match="does not exist"):
        export_run(tmp_path / "missing", tmp_path / "models")
    (run / "best" / "model.weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(
        RunError, match=f"checkpoint {run / 'best'}: model.weights.h5 does not match"
    ):
        export_run(run, tmp_path / "models")
    legacy = json.loads((run / "best" / "checkpoint.json").read_text())
    del legacy["weights_sha256"]  # written before checkpoints recorded it: the load itself fails
    (run / "best" / "checkpoint.json").write_text(json.dumps(legacy))
    with pytest.raises(RunError, match="cannot load weights"):
        export_run(run, tmp_path / "models")
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["1", "2"]
    (run / "best" / "checkpoint.json").write_text("{not json")
    with pytest.raises(RunError, match="corrupted"):
        export_run(run, tmp_path / "models")
    with pytest.raises(RunError, match="neither a run directory"):
        export_checkpoint(tmp_path / "models", tmp_path / "other")


def test_model_base_paths_that_cannot_be_written_are_named(tmp_path):
    from trainer.errors import ExportError

    config = TrainingConfig(units=(4,), embedding_dim=2)
    model = build_model(config, VOCAB.size)
    with pytest.raises(ExportError, match="gs://bucket/models is a URL"):
        export_saved_model(model, config, VOCAB, "gs://bucket/models")
    assert not (tmp_path / "gs:").exists()
    a_file = tmp_path / "file"
    a_file.write_text("not a directory")
    with pytest.raises(
        ExportError, match=f"cannot create model base path {a_file}/models: Not a directory"
    ):
        export_saved_model(model, config, VOCAB, a_file / "models")


def test_an_export_that_does_not_load_in_a_session_is_never_published(tmp_path, monkeypatch):
    from trainer.errors import ExportError

    def broken(path, config=None):
        raise ValueError("restore op failed")

    monkeypatch.setattr("trainer.export.publish.SessionBundle", broken)
    config = TrainingConfig(units=(4,), embedding_dim=2)
    with pytest.raises(
        ExportError, match="does not load the way TF Serving loads it: restore op failed"
    ):
        export_saved_model(build_model(config, VOCAB.size), config, VOCAB, tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_ascii_digits_only_are_versions(tmp_path):
    from trainer.export.publish import existing_versions

    for name in ("1", "²", "12", "1.5", "٣"):
        (tmp_path / name).mkdir()
    assert existing_versions(tmp_path) == [1, 12]


def test_a_checkpoint_whose_weights_do_not_match_is_not_exported(tmp_path):
    config = TrainingConfig(units=(4,), embedding_dim=2)
    model = build_model(config, VOCAB.size)
    first = write_checkpoint(tmp_path / "a", model, config, VOCAB, epoch=1)
    model.get_layer("logits").set_weights([w + 1 for w in model.get_layer("logits").get_weights()])
    second = write_checkpoint(tmp_path / "b", model, config, VOCAB, epoch=2)
    (first / "model.weights.h5").write_bytes(
        (second / "model.weights.h5").read_bytes()
    )  # epoch 2's weights
    with pytest.raises(RunError, match="model.weights.h5 does not match checkpoint.json"):
        export_checkpoint(first, tmp_path / "models")
    assert export_checkpoint(second, tmp_path / "models").name == "1"


def test_a_checkpoint_replaced_while_it_is_copied_is_copied_again(tmp_path, monkeypatch):
    import shutil

    config = TrainingConfig(units=(4,), embedding_dim=2)
    model = build_model(config, VOCAB.size)
    best = write_checkpoint(tmp_path / "best", model, config, VOCAB, epoch=1)
    other = write_checkpoint(
        tmp_path / "other", build_model(config.replace(seed=3), VOCAB.size), config, VOCAB, epoch=2
    )
    real_copytree = shutil.copytree
    calls = []

    def racing_copytree(source, target, *args, **kwargs):
        result = real_copytree(source, target, *args, **kwargs)
        calls.append(target)
        if len(calls) == 1:  # the first copy got epoch 1's metadata with epoch 2's weights
            (target / "model.weights.h5").write_bytes((other / "model.weights.h5").read_bytes())
        return result

    monkeypatch.setattr("trainer.export.publish.shutil.copytree", racing_copytree)
    path = export_checkpoint(best, tmp_path / "models")
    assert len(calls) == 2
    meta = json.loads((path / "assets" / "charloom.json").read_text(encoding="utf-8"))
    assert meta["metrics"]["epoch"] == 1


def test_a_mixed_precision_training_model_exports_as_its_float32_twin(tmp_path):
    from trainer.model import prefill

    config = TrainingConfig(cell="lstm", units=(8,), embedding_dim=4, mixed_precision=True)
    model = build_model(config, VOCAB.size)  # the training model: float16 compute
    path = export_saved_model(model, config, VOCAB, tmp_path / "models")
    twin = build_model(config, VOCAB.size, inference=True)
    twin.set_weights(model.get_weights())
    ids, lengths = padded([[1, 2, 3, 4]]), np.array([4], np.int32)
    served = SessionSignatures(path)
    try:
        out = served["prefill"](input_ids=ids, lengths=lengths, **zeros(config, 1))
    finally:
        served.close()
    logits, states = prefill(twin, config, ids, lengths, list(zeros(config, 1).values()))
    assert out["logits"].dtype == np.float32 and out["layer_0_h"].dtype == np.float32
    np.testing.assert_allclose(out["logits"], logits.numpy(), atol=1e-5)
    np.testing.assert_allclose(out["layer_0_c"], states[1].numpy(), atol=1e-5)
