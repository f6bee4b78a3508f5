"""The exported SavedModel honours the serving contract (signatures, errors, assets, versions)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from trainer.checkpoints import write_checkpoint
from trainer.config import TrainingConfig
from trainer.errors import RunError
from trainer.export import export_checkpoint, export_run, export_saved_model
from trainer.model import build_model, state_names
from trainer.vocabulary import Vocabulary

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks? 你好 😀\n"
VOCAB = Vocabulary.from_text(TEXT)
SHAPES = {("gru", 1): (16,), ("gru", 3): (16, 8, 12), ("lstm", 1): (16,), ("lstm", 3): (8, 16, 12)}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One trained-shaped (random weights) model per (cell, layers), exported and reloaded."""
    base = tmp_path_factory.mktemp("models")
    out = {}
    for (cell, layers), units in SHAPES.items():
        config = TrainingConfig(cell=cell, num_layers=layers, units=units, embedding_dim=8)
        model = build_model(config, VOCAB.size)
        path = export_saved_model(model, config, VOCAB, base / f"{cell}{layers}",
                                  {"metrics": {"val_bpc": 2.5}, "source": {"run": "test"}})
        out[cell, layers] = (config, model, path, tf.saved_model.load(str(path)))
    return out


def zeros(config, batch):
    return {name: tf.zeros([batch, units]) for name, units in state_names(config)}


@pytest.mark.parametrize("key", list(SHAPES))
def test_parity_step_and_prefill_with_the_training_model(exported, key):
    config, model, _, loaded = exported[key]
    ids = VOCAB.encode(TEXT)[None, :]
    full = model(ids, training=False).numpy()[0]

    step = loaded.signatures["serving_default"]
    states = zeros(config, 1)
    logits = []
    for t in range(ids.shape[1]):
        out = step(input_ids=tf.constant(ids[:, t:t + 1]), **states)
        logits.append(out["logits"].numpy()[0])
        states = {name: out[name] for name, _ in state_names(config)}
    assert np.abs(np.array(logits) - full).max() <= 1e-4

    # prefill: the whole text at once, and a shorter right-padded row in the same batch
    short = 7
    batch = np.stack([ids[0], np.concatenate([ids[0, :short], np.zeros(ids.shape[1] - short, np.int32)])])
    out = loaded.signatures["prefill"](input_ids=tf.constant(batch),
                                       lengths=tf.constant([ids.shape[1], short]), **zeros(config, 2))
    assert np.abs(out["logits"].numpy()[0] - full[-1]).max() <= 1e-4
    assert np.abs(out["logits"].numpy()[1] - full[short - 1]).max() <= 1e-4
    # prefill's final states equal the step-by-step ones
    for name, _ in state_names(config):
        assert np.abs(out[name].numpy()[0] - states[name].numpy()[0]).max() <= 1e-4


def test_signature_shapes_are_static_where_promised(exported):
    config, _, _, loaded = exported["lstm", 3]
    step = loaded.signatures["serving_default"]
    _, inputs = step.structured_input_signature
    assert inputs["input_ids"].shape.as_list() == [None, 1] and inputs["input_ids"].dtype == tf.int32
    assert {k: v.shape.as_list() for k, v in inputs.items() if k != "input_ids"} == {
        name: [None, units] for name, units in state_names(config)}
    assert step.structured_outputs["logits"].shape.as_list() == [None, VOCAB.size]
    assert set(step.structured_outputs) == {"logits"} | {n for n, _ in state_names(config)}
    _, prefill_inputs = loaded.signatures["prefill"].structured_input_signature
    assert prefill_inputs["input_ids"].shape.as_list() == [None, None]
    assert prefill_inputs["lengths"].shape.as_list() == [None]


def test_tokenize_and_detokenize(exported):
    _, _, _, loaded = exported["gru", 1]
    out = loaded.signatures["tokenize"](text=tf.constant(["你好 😀", "But", "Zé", ""]))
    ids, lengths = out["input_ids"].numpy(), out["lengths"].numpy()
    assert lengths.tolist() == [4, 3, 2, 0]
    assert ids[0].tolist() == VOCAB.encode("你好 😀").tolist()
    assert ids[1].tolist() == VOCAB.encode("But").tolist() + [0]
    assert ids[2, 1] == -1 and ids[2, 0] == -1  # 'Z' and 'é' are not in the vocabulary
    text = loaded.signatures["detokenize"](input_ids=tf.constant(ids[:2, :3]))["text"].numpy()
    assert [t.decode("utf-8") for t in text] == ["你好 ", "But"]
    with pytest.raises(tf.errors.InvalidArgumentError):
        loaded.signatures["tokenize"](text=tf.constant([b"ok", b"\xff\xfe"]))


def test_bad_ids_and_lengths_are_invalid_argument(exported):
    config, _, _, loaded = exported["lstm", 1]
    v = VOCAB.size
    for bad in (v, -1):
        with pytest.raises(tf.errors.InvalidArgumentError, match="outside the vocabulary"):
            loaded.signatures["serving_default"](input_ids=tf.constant([[bad]]), **zeros(config, 1))
        with pytest.raises(tf.errors.InvalidArgumentError, match="outside the vocabulary"):
            loaded.signatures["prefill"](input_ids=tf.constant([[1, bad]]), lengths=tf.constant([2]),
                                         **zeros(config, 1))
        with pytest.raises(tf.errors.InvalidArgumentError, match="outside the vocabulary"):
            loaded.signatures["detokenize"](input_ids=tf.constant([[bad]]))
    for lengths in ([0], [3], [1, 1]):
        with pytest.raises(tf.errors.InvalidArgumentError, match="lengths"):
            loaded.signatures["prefill"](input_ids=tf.constant([[1, 2]]), lengths=tf.constant(lengths),
                                         **zeros(config, 1))
    with pytest.raises(tf.errors.InvalidArgumentError, match="layer_0_h"):
        loaded.signatures["serving_default"](input_ids=tf.constant([[1], [2]]), **zeros(config, 1))


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


def test_saved_model_cli_shows_every_signature(exported):
    _, _, path, _ = exported["lstm", 1]
    cli = Path(sys.executable).with_name("saved_model_cli")
    command = [str(cli)] if cli.exists() else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    result = subprocess.run(command + ["show", "--all", "--dir", str(path)], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr
    for name in ("serving_default", "prefill", "tokenize", "detokenize"):
        assert f"signature_def['{name}']" in result.stdout
    for name in ("layer_0_h", "layer_0_c", "lengths", "text"):
        assert f"inputs['{name}']" in result.stdout


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
    loaded = tf.saved_model.load(str(path))
    out = loaded.signatures["prefill"](input_ids=tf.constant(ids), lengths=tf.constant([4]), **zeros(config, 1))
    np.testing.assert_allclose(out["logits"].numpy()[0], model(ids).numpy()[0, -1], atol=1e-5)
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
