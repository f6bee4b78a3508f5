"""Chinese, end to end on zh-tang300: character and word models train, export, serve through the
server, and `charloom generate --prompt 春` returns Chinese text; mixed Chinese and English text
round-trips exactly through a word model's served tokenize/detokenize."""

from __future__ import annotations

import numpy as np
import pytest

from charloom.cli import main
from serving.contract import DETOKENIZE_WIDTH
from serving.server.config import ServerConfig, single_model
from serving.server.model_server import start_server
from serving.signature_inputs import detokenize_ids
from tests.helpers.session_model import SessionSignatures
from trainer.config import TrainingConfig
from trainer.corpus import load_corpus
from trainer.export import export_run
from trainer.training import train

pytestmark = pytest.mark.e2e
TINY = dict(
    units=(48,),
    embedding_dim=16,
    seq_len=32,
    batch_size=16,
    learning_rate=0.01,
    epochs=1,
    steps_per_epoch=25,
    validation_steps=2,
    early_stopping_patience=None,
    reduce_lr_patience=None,
)
MIXED = "春眠不觉晓，处处闻啼鸟。\nROMEO: But soft, what light 夜来风雨声 3.14!\r\n花落知多少。"


def is_chinese(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff"


@pytest.fixture(scope="module", params=["char", "word"])
def chinese_model(request, tang300_path, tmp_path_factory):
    corpus = load_corpus("zh-tang300")  # the built-in name, seeded from ../shared/data
    root = tmp_path_factory.mktemp(f"zh-{request.param}")
    result = train(TrainingConfig(tokenizer=request.param, **TINY), corpus, root / "run", verbose=0)
    assert np.isfinite(result.best_val_bpc)
    return request.param, export_run(root / "run", root / "models" / "charloom"), result


def test_generate_continues_a_chinese_prompt(chinese_model, capsys):
    tokenizer, version_dir, _ = chinese_model
    config = ServerConfig(
        models=(single_model("charloom", version_dir.parent),), port=0, host="127.0.0.1"
    )
    with start_server(config) as handle:
        code = main(
            [
                "generate",
                "--target",
                f"127.0.0.1:{handle.port}",
                "--prompt",
                "春",
                "--max-new-tokens",
                "30",
                "--seed",
                "3",
                "--temperature",
                "0.8",
            ]
        )
    out, err = capsys.readouterr()
    assert code == 0, err
    text = out.rstrip("\n")
    assert text.startswith("春") and sum(map(is_chinese, text[1:])) >= 10, text
    if tokenizer == "char":
        assert len(text) == 31  # max_new_tokens counts tokens: characters here
    else:
        assert len(text) >= 31  # a word token is one or more characters


def test_bits_per_character_are_comparable_across_tokenizers(chinese_model):
    """Word models report bits per character of the text, not per token: on this corpus a
    word token is about 1.3 characters, so per-token bits would be that much higher."""
    _, _, result = chinese_model
    for epoch in result.history:
        assert 0.5 < epoch["val_bpc"] < 16, epoch


def test_a_mixed_chinese_english_corpus_round_trips_through_the_served_tokenizer(
    tang300_path, tmp_path
):
    from tests.conftest import synthetic_text
    from trainer.export import export_saved_model
    from trainer.model import build_model
    from trainer.vocabulary import build

    corpus = tang300_path.read_text(encoding="utf-8")[:8000] + synthetic_text(4000) + MIXED * 3
    vocabulary, ids = build(corpus, "word", min_count=2)
    assert vocabulary.decode(ids) == corpus  # the training side's segmentation is exact
    config = TrainingConfig(tokenizer="word", units=(8,), embedding_dim=4)
    version_dir = export_saved_model(
        build_model(config, vocabulary.size), config, vocabulary, tmp_path
    )
    signatures = SessionSignatures(version_dir)
    try:
        texts = [MIXED, corpus[:3000], corpus[-2000:]]
        out = signatures["tokenize"](text=np.array([t.encode() for t in texts], dtype=object))
        for row, text in enumerate(texts):
            length = int(out["lengths"][row])
            ids = out["input_ids"][row : row + 1, :length]
            assert (ids >= 0).all() and length < len(
                text
            )  # known characters, some multi-character words
            pieces = [ids[0, i : i + DETOKENIZE_WIDTH] for i in range(0, length, DETOKENIZE_WIDTH)]
            back = signatures["detokenize"](input_ids=detokenize_ids(*pieces))["text"]
            assert "".join(t.decode("utf-8") for t in back) == text
    finally:
        signatures.close()
