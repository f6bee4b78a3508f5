import json

import numpy as np
import pytest

from serving.contract import NO_ID, longest_match
from trainer.errors import VocabularyError
from trainer.tokenizers import vocabulary_tokens
from trainer.vocabulary import FILE_NAME, Vocabulary, build


def test_code_point_order_and_round_trip():
    vocab = Vocabulary.from_text("banana\n")
    assert vocab.tokens == ("\n", "a", "b", "n")
    ids = vocab.encode("banana")
    assert ids.dtype == np.int32
    assert ids.tolist() == [2, 1, 3, 1, 3, 1]
    assert vocab.decode(ids) == "banana"


def test_deterministic_regardless_of_text_order():
    assert Vocabulary.from_text("cab").tokens == Vocabulary.from_text("bca").tokens
    assert Vocabulary.from_text("cab").fingerprint == Vocabulary.from_text("abc").fingerprint


def test_chinese_and_emoji_are_single_characters():
    text = "床前明月光🌙👍"
    vocab = Vocabulary.from_text(text)
    assert vocab.size == 7
    assert len(vocab.encode(text)) == 7
    assert vocab.decode(vocab.encode(text)) == text


def test_unseen_character_is_a_clear_error():
    vocab = Vocabulary.from_text("abc")
    with pytest.raises(
        VocabularyError, match=r"not in the vocabulary: 'z' \(U\+007A LATIN SMALL LETTER Z\)"
    ):
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
    data["tokens"] = ["a", "b", "d"]
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


MIXED = "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。\r\nROMEO: But soft! 春风 3.14 😀\n\n" * 3


def test_word_tokens_round_trip_exactly_and_keep_every_character():
    vocab, ids = build(MIXED, "word", min_count=2)
    assert vocab.tokenizer == "word" and vocab.decode(ids) == MIXED
    assert set(MIXED) <= set(vocab.tokens)  # every character is a token: any such text encodes
    assert any(len(t) > 1 for t in vocab.tokens)
    assert vocab.decode(vocab.encode(MIXED)) == MIXED
    prompt = "花落春眠 soft"
    assert vocab.decode(vocab.encode_longest_match(prompt)) == prompt
    assert len(vocab.encode_longest_match("春眠")) < len("春眠") or "春眠" not in vocab.tokens


def test_word_vocabulary_rules():
    pieces = ["ab", "ab", "cd", "ab", "cd", "ef", "xyzxyzxyzxyzxyzxyz"]
    assert vocabulary_tokens(pieces, min_count=2) == tuple(sorted(set("abcdefxyz") | {"ab", "cd"}))
    assert vocabulary_tokens(pieces, min_count=1, max_vocab=1) == tuple(
        sorted(set("abcdefxyz") | {"ab"})
    )
    # a token longer than MAX_TOKEN_CHARS is never kept; its characters are
    assert "xyzxyzxyzxyzxyzxyz" not in vocabulary_tokens(pieces, min_count=1)


def test_word_vocabulary_saves_and_loads_and_old_character_files_still_load(tmp_path):
    vocab, _ = build(MIXED, "word", min_count=2)
    vocab.save(tmp_path)
    assert Vocabulary.load(tmp_path) == vocab
    old = {"format": "charloom-vocabulary/1", "chars": ["a", "b"], "size": 2}
    (tmp_path / FILE_NAME).write_text(json.dumps(old), encoding="utf-8")
    assert Vocabulary.load(tmp_path) == Vocabulary(("a", "b"), "char")
    assert (
        Vocabulary.load(tmp_path).fingerprint == Vocabulary.from_text("ab").fingerprint
    )  # old runs resume


def test_greedy_longest_match_is_the_contracts_rule():
    table = {"a": 0, "ab": 1, "abc": 2, "b": 3, "c": 4, "bcd": 5, "d": 6}
    assert longest_match("abcd", table, 3) == [2, 6]
    assert longest_match("abd", table, 3) == [1, 6]
    assert longest_match("zab", table, 3) == [NO_ID, 1]
    assert longest_match("", table, 3) == []
