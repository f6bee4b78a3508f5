"""The Chinese built-in corpora: cleaned from Debian's fortunes-zh files, verified by sha256."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from trainer import corpus as corpus_mod
from trainer.corpus import BUILTIN_CORPORA, load_corpus, seed_cache
from trainer.errors import CorpusError
from trainer.fortunes import clean_fortune_file, extract_from_deb

FORTUNE = "\x1b[32m《静夜思》\x1b[m\n\x1b[33m作者：李白\x1b[m\n床前明月光，\n疑是地上霜。\n%\n\x1b[32m《春晓》\x1b[m\n春眠不觉晓。\n%\n"  # noqa: E501
CLEAN = "《静夜思》\n作者：李白\n床前明月光，\n疑是地上霜。\n\n《春晓》\n春眠不觉晓。\n"


def test_cleaning_removes_colours_and_separators():
    assert clean_fortune_file(FORTUNE) == CLEAN


def fake_deb(files: dict[str, bytes]) -> bytes:
    """An ar archive like a .deb: debian-binary, control.tar.xz, data.tar.xz (odd sizes padded)."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:xz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(f"./usr/share/games/fortunes/{name}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    out = b"!<arch>\n"
    for name, body in (
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", b"x" * 7),
        ("data.tar.xz", data.getvalue()),
    ):
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}`\n".encode() + body
        out += b"\n" if len(body) % 2 else b""
    return out


def test_a_corpus_is_extracted_from_the_package_and_verified(tmp_path, monkeypatch):
    deb = tmp_path / "fortunes-zh.deb"
    deb.write_bytes(fake_deb({"tang300": FORTUNE.encode(), "chinese": b"other"}))
    assert extract_from_deb(deb.read_bytes(), "tang300") == FORTUNE.encode()
    with pytest.raises(CorpusError, match="has no ./usr/share/games/fortunes/song100"):
        extract_from_deb(deb.read_bytes(), "song100")
    with pytest.raises(CorpusError, match="is not a Debian package"):
        extract_from_deb(b"PK\x03\x04", "tang300")
    monkeypatch.setenv("CHARLOOM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(corpus_mod, "_fetch", lambda url, sha256, filename: deb)
    builtin = dataclasses.replace(
        BUILTIN_CORPORA["zh-tang300"], sha256=hashlib.sha256(CLEAN.encode()).hexdigest()
    )
    path = corpus_mod._fetch_builtin(builtin)
    assert path.read_text(encoding="utf-8") == CLEAN
    with pytest.raises(CorpusError, match="does not give built-in corpus 'zh-tang300'"):
        corpus_mod._fetch_builtin(
            dataclasses.replace(builtin, sha256="0" * 64, filename="other.txt")
        )


def test_offline_without_a_copy_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARLOOM_CACHE_DIR", str(tmp_path / "empty"))

    def offline(url, sha256, filename):
        raise CorpusError(f"cannot download {url}")

    monkeypatch.setattr(corpus_mod, "_fetch", offline)
    with pytest.raises(
        CorpusError,
        match=r"apt-get install fortunes-zh.*charloom data seed "
        r"/usr/share/games/fortunes/tang300",
    ):
        load_corpus("zh-tang300")


def test_a_fortune_file_that_is_not_the_packages_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARLOOM_CACHE_DIR", str(tmp_path / "cache"))
    impostor = tmp_path / "tang300"
    impostor.write_text(FORTUNE, encoding="utf-8")
    with pytest.raises(CorpusError, match="does not give built-in corpus 'zh-tang300'"):
        seed_cache(impostor)


@pytest.mark.parametrize(
    "name, characters, distinct", [("zh-tang300", 29_577, 2_579), ("zh-fortunes", 962_099, 5_965)]
)
def test_builtin_chinese_corpora_from_the_seeded_cache(name, characters, distinct):
    try:
        text = load_corpus(name).text
    except CorpusError:
        pytest.skip(f"{name} is not seeded (../shared/data absent) and there is no network")
    assert (len(text), len(set(text))) == (characters, distinct)


@pytest.mark.parametrize("fortune, name", [("tang300", "zh-tang300"), ("chinese", "zh-fortunes")])
def test_seeding_from_the_installed_package(fortune, name, tmp_path, monkeypatch):
    installed = Path("/usr/share/games/fortunes") / fortune
    if not installed.is_file():
        pytest.skip(f"{installed} absent (apt-get install fortunes-zh)")
    monkeypatch.setenv("CHARLOOM_CACHE_DIR", str(tmp_path))
    assert seed_cache(installed).name == name
    assert load_corpus(name).sha256 == BUILTIN_CORPORA[name].sha256
