import json

import numpy as np
import pytest

from trainer.errors import VocabularyError
from trainer.vocabulary import FILE_NAME, Vocabulary


def test_code_point_order_and_round_trip():
    vocab = Vocabulary.from_text("banana\n")
    assert vocab.chars == ("\n", "a", "b", "n")
    ids = vocab.encode("banana")
    assert ids.dtype == np.int32
    assert ids.tolist() == [2, 1, 3, 1, 3, 1]
    assert vocab.decode(ids) == "banana"


def test_deterministic_regardless_of_text_order():
    assert Vocabulary.from_text("cab").chars == Vocabulary.from_text("bca").chars
    assert Vocabulary.from_text("cab").fingerprint == Vocabulary.from_text("abc").fingerprint


def test_chinese_and_emoji_are_single_characters():
    text = "床前明月光🌙👍"
    vocab = Vocabulary.from_text(text)
    assert vocab.size == 7
    assert len(vocab.encode(text)) == 7
    assert vocab.decode(vocab.encode(text)) == text


def test_unseen_character_is_a_clear_error():
    vocab = Vocabulary.from_text("abc")
    with pytest.raises(VocabularyError, match=r"not in the vocabulary: 'z' \(U\+007A LATIN SMALL LETTER Z\)"):
        vocab.encode("abz")


def test_decode_rejects_out_of_range_ids():
    vocab = Vocabulary.from_text("abc")
    with pytest.raises(VocabularyError, match=r"outside the vocabulary \[0, 3\)"):
        vocab.decode([0, 3])
    with pytest.raises(VocabularyError):
        vocab.decode([-1])


def test_save_load_round_trip(tmp_path):
    vocab = Vocabulary.from_text("Hello, 世界 🌍\n\t")
    path = vocab.save(tmp_path)
    assert path.name == FILE_NAME
    assert Vocabulary.load(tmp_path) == vocab
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["size"] == vocab.size and data["fingerprint"] == vocab.fingerprint


def test_corrupted_file_detected(tmp_path):
    vocab = Vocabulary.from_text("abc")
    path = vocab.save(tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["chars"] = ["a", "b", "d"]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(VocabularyError, match="fingerprint does not match"):
        Vocabulary.load(tmp_path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(VocabularyError, match="not valid JSON"):
        Vocabulary.load(tmp_path)


def test_missing_file(tmp_path):
    with pytest.raises(VocabularyError, match="no vocabulary.json"):
        Vocabulary.load(tmp_path)


def test_shakespeare_has_65_characters(shakespeare_path):
    assert Vocabulary.from_text(shakespeare_path.read_text(encoding="utf-8")).size == 65
