"""Corpora: local files, directories of .txt files, verified downloads, and built-in names.

Downloads go through `keras.utils.get_file` into a cache directory (``$CHARLOOM_CACHE_DIR``,
default ``~/.cache/charloom``) and are always checked against a sha256, so a corpus is
identified by its content, not by where it came from.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shutil
from pathlib import Path

from trainer import fortunes
from trainer.durable import sha256_file
from trainer.errors import CorpusError

# The most text a run reads, all files together (a character model of a larger corpus would train
# for weeks here); checked from the files' sizes before reading any of them.
MAX_CORPUS_BYTES = 512 * 1024 * 1024
HEAD_BYTES = 64 * 1024  # read first to refuse a binary or sparse file without reading it whole
logger = logging.getLogger(__name__)

CACHE_ENV_VAR = "CHARLOOM_CACHE_DIR"
CACHE_SUBDIR = "corpora"


@dataclasses.dataclass(frozen=True)
class BuiltinCorpus:
    name: str
    url: str  # where it is downloaded from: the file itself, or the package holding it
    sha256: str  # of the corpus text file
    filename: str
    description: str
    fortune_file: str | None = (
        None  # a file of the fortunes-zh package, cleaned (trainer/fortunes.py)
    )


BUILTIN_CORPORA: dict[str, BuiltinCorpus] = {
    "shakespeare": BuiltinCorpus(
        name="shakespeare",
        url="https://storage.googleapis.com/download.tensorflow.org/data/shakespeare.txt",
        sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        filename="shakespeare.txt",
        description="Tiny Shakespeare, the TensorFlow text-generation tutorial's corpus",
    ),
    "zh-tang300": BuiltinCorpus(
        name="zh-tang300",
        url=fortunes.DEB_URL,
        sha256="a78f4e39b0dcc6e682e46f46be3b46f9be2cc2d5a5667eae67631efded0c28f8",
        filename="zh-tang300.txt",
        description="300 Tang poems (29,577 characters, 2,579 distinct), Debian's fortunes-zh",
        fortune_file="tang300",
    ),
    "zh-fortunes": BuiltinCorpus(
        name="zh-fortunes",
        url=fortunes.DEB_URL,
        sha256="bd70bb6d52712c3f6d2a17c10d9fa4d1875cf1ca2f481ad9ac714b8fa7dca679",
        filename="zh-fortunes.txt",
        description="modern Chinese prose and sayings (962,099 characters, 5,965 distinct), Debian's fortunes-zh",
        fortune_file="chinese",
    ),
}


@dataclasses.dataclass(frozen=True)
class Corpus:
    """Decoded text plus where it came from; ``sha256`` is of the UTF-8 text, the corpus identity."""

    text: str
    source: str
    files: tuple[str, ...]
    sha256: str

    def describe(self) -> dict:
        return {
            "source": self.source,
            "files": list(self.files),
            "sha256": self.sha256,
            "characters": len(self.text),
        }


def cache_dir() -> Path:
    """The corpus cache root; ``$CHARLOOM_CACHE_DIR`` overrides the default."""
    root = os.environ.get(CACHE_ENV_VAR) or os.path.join(
        os.path.expanduser("~"), ".cache", "charloom"
    )
    return Path(root)


def _check_sha256(value: str) -> str:
    value = value.strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise CorpusError(f"sha256 must be 64 hexadecimal characters, got {value!r}")
    return value


def _fetch(url: str, sha256: str, filename: str) -> Path:
    """Return the cached file for ``url``, downloading and verifying it when missing or stale."""
    import keras  # heavy import, only when a download may be needed

    target = cache_dir() / CACHE_SUBDIR / filename
    if target.is_file() and sha256_file(target) == sha256:
        return target
    try:
        path = keras.utils.get_file(
            fname=filename,
            origin=url,
            file_hash=sha256,
            hash_algorithm="sha256",
            cache_dir=str(cache_dir()),
            cache_subdir=CACHE_SUBDIR,
        )
    except ValueError as exc:  # get_file's "hash does not match"
        raise CorpusError(f"download of {url} does not match sha256 {sha256}: {exc}") from None
    except Exception as exc:  # get_file wraps network errors in a bare Exception
        raise CorpusError(
            f"cannot download {url} and no verified copy is cached in "
            f"{target.parent} ({exc}); seed the cache with "
            f"`charloom data seed FILE`"
        ) from None
    return Path(path)


def _cache_text(builtin: BuiltinCorpus, data: bytes, origin: str) -> Path:
    """Write a built-in corpus' bytes into the cache after checking them against its sha256."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != builtin.sha256:
        raise CorpusError(
            f"{origin} does not give built-in corpus {builtin.name!r} (sha256 {digest}, "
            f"expected {builtin.sha256})"
        )
    target = cache_dir() / CACHE_SUBDIR / builtin.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".seeding")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    logger.info("cached %s from %s", target, origin)
    return target


def seed_cache(path: Path) -> BuiltinCorpus:
    """Put a local copy of a built-in corpus into the cache, so no download is needed (CI,
    offline): the corpus file itself, or the fortunes-zh file it is cleaned from."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"cannot seed the cache: {path} is not a file")
    digest = sha256_file(path)
    for builtin in BUILTIN_CORPORA.values():
        if builtin.sha256 == digest:
            target = cache_dir() / CACHE_SUBDIR / builtin.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".seeding")
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
            logger.info("seeded %s from %s", target, path)
            return builtin
    for builtin in BUILTIN_CORPORA.values():
        if builtin.fortune_file is not None and path.name in (
            builtin.fortune_file,
            f"{builtin.fortune_file}.u8",
        ):
            raw = _decode(_read_bounded(path), str(path))
            _cache_text(builtin, fortunes.clean_fortune_file(raw).encode("utf-8"), str(path))
            return builtin
    raise CorpusError(
        f"{path} (sha256 {digest}) is not the file of any built-in corpus "
        f"({', '.join(sorted(BUILTIN_CORPORA))})"
    )


def _fetch_builtin(builtin: BuiltinCorpus) -> Path:
    """The cached, verified file of a built-in corpus, downloading it when needed."""
    if builtin.fortune_file is None:
        return _fetch(builtin.url, builtin.sha256, builtin.filename)
    target = cache_dir() / CACHE_SUBDIR / builtin.filename
    if target.is_file() and sha256_file(target) == builtin.sha256:
        return target
    try:
        deb = _fetch(fortunes.DEB_URL, fortunes.DEB_SHA256, fortunes.DEB_FILENAME)
    except CorpusError as exc:
        raise CorpusError(
            f"built-in corpus {builtin.name!r} is not cached and {exc}; or `apt-get install "
            f"fortunes-zh` and `charloom data seed "
            f"{fortunes.INSTALLED_DIR}/{builtin.fortune_file}`"
        ) from None
    raw = _decode(
        fortunes.extract_from_deb(deb.read_bytes(), builtin.fortune_file), fortunes.DEB_FILENAME
    )
    return _cache_text(builtin, fortunes.clean_fortune_file(raw).encode("utf-8"), fortunes.DEB_URL)


def _decode(data: bytes, origin: str) -> str:
    if not data:
        raise CorpusError(f"{origin} is empty")
    if b"\x00" in data:
        raise CorpusError(f"{origin} looks binary (contains NUL bytes), not UTF-8 text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{origin} is not UTF-8 text (invalid byte at offset {exc.start})"
        ) from None
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise CorpusError(f"{origin} contains only whitespace")
    return text


def _read_bounded(path: Path, budget: int = MAX_CORPUS_BYTES) -> bytes:
    """A corpus file's bytes, refused by its size (before any read) or by a NUL in its first
    block (a sparse or binary file is not read whole to find out)."""
    try:
        size = path.stat().st_size
        if size > budget:
            raise CorpusError(
                f"{path} is {size:,} bytes, more than the corpus limit of {MAX_CORPUS_BYTES:,} "
                "bytes for all files together"
            )
        with path.open("rb") as f:
            if b"\x00" in f.read(HEAD_BYTES):
                raise CorpusError(f"{path} looks binary (contains NUL bytes), not UTF-8 text")
            f.seek(0)
            return f.read(budget + 1)
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc.strerror}") from None


def _read_files(files: list[Path], source: str) -> Corpus:
    parts = []
    budget = MAX_CORPUS_BYTES
    for path in files:
        data = _read_bounded(path, budget)
        budget -= len(data)
        text = _decode(data, str(path))
        if parts and not parts[-1].endswith("\n"):
            parts.append("\n")  # books joined in name order stay on separate lines
        parts.append(text)
    text = "".join(parts)
    return Corpus(
        text=text,
        source=source,
        files=tuple(str(p) for p in files),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def load_corpus(spec: str, sha256: str | None = None) -> Corpus:
    """Resolve ``spec`` (built-in name, file, directory of .txt files, or https URL) and decode it.

    ``sha256`` is required for URLs and, when given for a local file, verified too.
    """
    if not spec:
        raise CorpusError("no corpus given")
    expected = _check_sha256(sha256) if sha256 else None
    if spec in BUILTIN_CORPORA:
        builtin = BUILTIN_CORPORA[spec]
        if expected and expected != builtin.sha256:
            raise CorpusError(
                f"built-in corpus {spec!r} has sha256 {builtin.sha256}, not {expected}"
            )
        return _read_files([_fetch_builtin(builtin)], source=spec)
    if spec.startswith(("https://", "http://")):
        if spec.startswith("http://"):
            raise CorpusError(f"refusing plain http URL {spec}; use https")
        if not expected:
            raise CorpusError(
                f"a URL corpus needs its sha256 (--corpus-sha256) to be verified: {spec}"
            )
        filename = f"{expected[:16]}-{os.path.basename(spec.split('?')[0]) or 'corpus.txt'}"
        return _read_files([_fetch(spec, expected, filename)], source=spec)
    path = Path(spec).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix == ".txt")
        if not files:
            raise CorpusError(f"directory {path} contains no .txt files")
        return _read_files(files, source=str(path))
    if path.is_file():
        if expected and sha256_file(path) != expected:
            raise CorpusError(f"{path} does not match sha256 {expected}")
        return _read_files([path], source=str(path))
    known = ", ".join(sorted(BUILTIN_CORPORA))
    raise CorpusError(
        f"corpus {spec!r} is not a file, a directory, an https URL or a built-in name ({known})"
    )
