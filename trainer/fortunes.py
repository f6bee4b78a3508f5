"""The Chinese built-in corpora, from the Debian package `fortunes-zh` 2.98 (GPL-3.0+).

The package ships fortune files: entries separated by lines holding only ``%``, titles coloured
with ANSI escape codes. The corpora are those files cleaned: colour codes removed, entries
separated by a blank line (`clean_fortune_file`), identified by the sha256 of the result. They
are obtained from the package itself, downloaded from Debian's archive and verified
(`extract_from_deb`), from its installed files (`apt-get install fortunes-zh`, then
`charloom data seed /usr/share/games/fortunes/tang300`), or from an already cleaned copy.
"""

from __future__ import annotations

import io
import re
import tarfile

from trainer.errors import CorpusError

DEB_URL = "https://deb.debian.org/debian/pool/main/f/fortune-zh/fortunes-zh_2.98_all.deb"
DEB_SHA256 = "211c5ddee59d0ae74ce01cbfd02f7c8714740bae1835d5661eb2254edd739105"
DEB_FILENAME = "fortunes-zh_2.98_all.deb"
INSTALLED_DIR = "/usr/share/games/fortunes"

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
_SEPARATOR = re.compile(r"^%\n", flags=re.MULTILINE)
_AR_MAGIC = b"!<arch>\n"
_AR_HEADER = 60


def clean_fortune_file(raw: str) -> str:
    """A fortune file as plain text: no colour codes, entries separated by one blank line."""
    entries = (entry.strip("\n") for entry in _SEPARATOR.split(_ANSI_ESCAPE.sub("", raw)))
    return "\n\n".join(entry for entry in entries if entry) + "\n"


def extract_from_deb(deb: bytes, member: str) -> bytes:
    """The file ``usr/share/games/fortunes/<member>`` from the package's bytes (an ar archive
    whose ``data.tar.xz`` holds the installed tree)."""
    if not deb.startswith(_AR_MAGIC):
        raise CorpusError(f"{DEB_FILENAME} is not a Debian package (no ar header)")
    offset = len(_AR_MAGIC)
    while offset + _AR_HEADER <= len(deb):
        header = deb[offset : offset + _AR_HEADER]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        body = deb[offset + _AR_HEADER : offset + _AR_HEADER + size]
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as archive:
                path = f"./usr/share/games/fortunes/{member}"
                try:
                    extracted = archive.extractfile(path)
                except KeyError:
                    extracted = None
                if extracted is None:
                    raise CorpusError(f"{DEB_FILENAME} has no {path}")
                return extracted.read()
        offset += _AR_HEADER + size + (size % 2)  # members are padded to an even length
    raise CorpusError(f"{DEB_FILENAME} has no data archive")
