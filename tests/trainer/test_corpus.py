import hashlib
import os

import pytest

from trainer import corpus as corpus_mod
from trainer.corpus import BUILTIN_CORPORA, load_corpus, seed_cache
from trainer.errors import CorpusError


def test_text_file(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("hello\nworld\n", encoding="utf-8")
    c = load_corpus(str(path))
    assert c.text == "hello\nworld\n"
    assert c.files == (str(path),)
    assert c.sha256 == hashlib.sha256(b"hello\nworld\n").hexdigest()


def test_local_file_checksum_is_verified(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("abc", encoding="utf-8")
    assert load_corpus(str(path), hashlib.sha256(b"abc").hexdigest()).text == "abc"
    with pytest.raises(CorpusError, match="does not match sha256"):
        load_corpus(str(path), "0" * 64)


def test_directory_joins_txt_files_in_name_order(tmp_path):
    (tmp_path / "2-chamber.txt").write_text("second", encoding="utf-8")
    (tmp_path / "1-stone.txt").write_text("first\n", encoding="utf-8")
    (tmp_path / "notes.md").write_text("ignored", encoding="utf-8")
    (tmp_path / "3-azkaban.txt").write_text("third\n", encoding="utf-8")
    c = load_corpus(str(tmp_path))
    assert c.text == "first\nsecond\nthird\n"
    assert [os.path.basename(f) for f in c.files] == [
        "1-stone.txt",
        "2-chamber.txt",
        "3-azkaban.txt",
    ]


def test_chinese_and_emoji(tmp_path):
    path = tmp_path / "zh.txt"
    path.write_text("床前明月光，疑是地上霜。🌙\n", encoding="utf-8")
    assert load_corpus(str(path)).text == "床前明月光，疑是地上霜。🌙\n"


def test_bom_is_dropped(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffabc".encode("utf-8"))
    assert load_corpus(str(path)).text == "abc"


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "is empty"),
        (b"   \n\t", "only whitespace"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        (b"caf\xe9 latin-1", "not UTF-8"),
    ],
)
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        load_corpus(str(path))


def test_empty_directory(tmp_path):
    with pytest.raises(CorpusError, match="no .txt files"):
        load_corpus(str(tmp_path))


def test_missing_path():
    with pytest.raises(CorpusError, match="not a file, a directory"):
        load_corpus("/nonexistent/corpus.txt")


def test_url_needs_sha256():
    with pytest.raises(CorpusError, match="needs its sha256"):
        load_corpus("https://example.invalid/corpus.txt")


def test_plain_http_refused():
    with pytest.raises(CorpusError, match="https"):
        load_corpus("http://example.invalid/corpus.txt", "a" * 64)


def test_malformed_sha256():
    with pytest.raises(CorpusError, match="64 hexadecimal"):
        load_corpus("https://example.invalid/corpus.txt", "xyz")


def test_url_offline_without_cache_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CHARLOOM_CACHE_DIR", str(tmp_path / "empty-cache"))
    with pytest.raises(CorpusError, match="cannot download .* no verified copy is cached"):
        load_corpus("https://127.0.0.1:9/corpus.txt", "b" * 64)


def test_url_served_from_verified_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("CHARLOOM_CACHE_DIR", str(tmp_path))
    data = b"cached corpus text\n"
    digest = hashlib.sha256(data).hexdigest()
    target = tmp_path / "corpora" / f"{digest[:16]}-corpus.txt"
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    assert load_corpus("https://127.0.0.1:9/corpus.txt", digest).text == "cached corpus text\n"


def test_wrong_checksum_in_cache_is_not_trusted(monkeypatch, tmp_path):
    """A cached file whose content does not match forces a download, which fails offline."""
    monkeypatch.setenv("CHARLOOM_CACHE_DIR", str(tmp_path))
    target = tmp_path / "corpora" / BUILTIN_CORPORA["shakespeare"].filename
    target.parent.mkdir(parents=True)
    target.write_text("not shakespeare", encoding="utf-8")
    builtin = BUILTIN_CORPORA["shakespeare"]
    monkeypatch.setitem(
        BUILTIN_CORPORA,
        "shakespeare",
        corpus_mod.BuiltinCorpus(
            builtin.name,
            "https://127.0.0.1:9/shakespeare.txt",
            builtin.sha256,
            builtin.filename,
            builtin.description,
        ),
    )
    with pytest.raises(CorpusError, match="cannot download"):
        load_corpus("shakespeare")


def test_builtin_shakespeare_from_seeded_cache(shakespeare_path):
    c = load_corpus("shakespeare")
    assert len(c.text) == 1_115_394
    assert c.source == "shakespeare"


def test_builtin_rejects_other_sha256(shakespeare_path):
    with pytest.raises(CorpusError, match="has sha256"):
        load_corpus("shakespeare", "c" * 64)


def test_seed_rejects_unknown_file(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("not a built-in corpus", encoding="utf-8")
    with pytest.raises(CorpusError, match="not the file of any built-in corpus"):
        seed_cache(path)


def test_seed_places_file_in_cache(shakespeare_path, monkeypatch, tmp_path):
    monkeypatch.setenv("CHARLOOM_CACHE_DIR", str(tmp_path))
    assert seed_cache(shakespeare_path).name == "shakespeare"
    assert (tmp_path / "corpora" / "shakespeare.txt").read_bytes() == shakespeare_path.read_bytes()


def test_a_corpus_too_large_is_refused_by_its_size_before_it_is_read(tmp_path):
    import resource

    from trainer.corpus import MAX_CORPUS_BYTES, load_corpus

    huge = tmp_path / "huge.txt"
    with huge.open("wb") as f:
        f.truncate(2 * 1024**3)  # sparse: 2 GiB of NULs that take no disk
    sparse = tmp_path / "sparse.txt"
    with sparse.open("wb") as f:
        f.truncate(MAX_CORPUS_BYTES // 2)  # within the limit, refused from its first block
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CorpusError, match="more than the corpus limit of 536,870,912 bytes"):
        load_corpus(str(huge))
    with pytest.raises(CorpusError, match="looks binary"):
        load_corpus(str(sparse))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 * 1024  # KiB


def test_a_directorys_files_share_the_limit(tmp_path, monkeypatch):
    import trainer.corpus
    from trainer.corpus import load_corpus

    books = tmp_path / "books"
    books.mkdir()
    (books / "a.txt").write_text("a" * 600)
    (books / "b.txt").write_text("b" * 600)
    monkeypatch.setattr(trainer.corpus, "MAX_CORPUS_BYTES", 1000)
    with pytest.raises(CorpusError, match="b.txt is 600 bytes, more than the corpus limit"):
        load_corpus(str(books))
