"""Making finished files survive a crash: fsync of files and directories before they are published.

An atomic rename only orders metadata; without fsync the renamed directory may hold empty or
truncated files after a power loss. Every checkpoint, export and JSON record is flushed here
before the rename that publishes it, and the parent directory after it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Flush one file's or directory's contents to stable storage."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if Path(path).is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Flush every file and directory under ``root`` (and ``root`` itself)."""
    for directory, _, files in os.walk(root):
        for name in files:
            fsync_path(Path(directory) / name)
        fsync_path(Path(directory))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def os_error_text(exc: OSError) -> str:
    """One line for a failed file operation ("No space left on device (/run/best/x.h5)"), also for
    shutil's copy errors, which carry a list of them."""
    if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list) and exc.args[0]:
        first = exc.args[0][0]
        return f"{first[-1]}"[:300] + (
            f" (and {len(exc.args[0]) - 1} more)" if len(exc.args[0]) > 1 else ""
        )
    text = exc.strerror or str(exc) or type(exc).__name__
    return f"{text} ({exc.filename})" if exc.filename else text


def disk_full(exc: OSError) -> bool:
    """Whether a failed file operation (shutil's copy errors included) ran out of space."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, shutil.Error) and os.strerror(errno.ENOSPC) in str(exc)
