"""Virtual environments holding the TensorFlow of the pinned TF Serving images, created once.

`runtime_python("2.20.0")` is the interpreter of a venv with ``tensorflow-cpu==2.20.0``, kept in
``$CHARLOOM_VENV_DIR`` (default ``~/.cache/charloom/venvs``) and reused by later runs. The test
that needs it skips, with one line, only when the package registry cannot be reached.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

INSTALL_TIMEOUT_SECONDS = 1800


def venv_root() -> Path:
    return Path(os.environ.get("CHARLOOM_VENV_DIR", Path.home() / ".cache" / "charloom" / "venvs"))


def _registry_reachable(python: Path, package: str) -> tuple[bool, str]:
    result = subprocess.run(
        [str(python), "-m", "pip", "index", "versions", package],
        capture_output=True,
        text=True,
        timeout=300,
    )
    detail = (result.stderr or result.stdout).strip().splitlines()
    return result.returncode == 0, detail[-1] if detail else ""


def runtime_python(version: str) -> Path:
    """The venv's python for ``tensorflow-cpu==version`` (created and cached on first use)."""
    venv = venv_root() / f"tfs-{version}"
    python = venv / "bin" / "python"
    ready = venv / ".charloom-ready"
    venv_root().mkdir(parents=True, exist_ok=True)
    with open(venv_root() / f".tfs-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one creator at a time, across processes
        if ready.is_file():
            return python
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        package = f"tensorflow-cpu=={version}"
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", package],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_SECONDS,
        )
        if install.returncode != 0:
            reachable, detail = _registry_reachable(python, "tensorflow-cpu")
            if not reachable:
                pytest.skip(f"package registry unreachable, cannot install {package}: {detail}")
            raise RuntimeError(f"pip install {package} failed:\n{install.stderr[-3000:]}")
        ready.write_text(version)
    return python
