"""A small tmpfs for disk-full tests: mounted when the tests run as root (CI does), else the test is
skipped with the reason; always unmounted."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_tmpfs(path: Path, size_bytes: int) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def leave_free(root: Path, free_bytes: int) -> Path:
    """Fill `root` with a file so that about `free_bytes` stay free; delete the file to free them."""
    filler = root / "filler"
    with filler.open("ab") as f:
        f.write(b"\0" * max(shutil.disk_usage(root).free - free_bytes, 0))
    return filler


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
