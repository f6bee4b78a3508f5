"""Serving test fixtures: tiny exported models, and running servers.

The toy model is exported by the real exporter and version-stamped (every logit of version v
equals v), so a test can tell which version answered without trusting the response's model_spec.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.toy_models import SERVER_CHARS, export_toy_model

VOCAB = 5  # SERVER_CHARS: ids 0..4
UNITS = 3


def build_toy_saved_model(base: Path, version_value: float) -> Path:
    """A one-layer GRU-3 toy over five characters, exported by the real exporter; every logit is
    ``version_value`` (tests/helpers/toy_models.py)."""
    return export_toy_model(
        base, cell="gru", units=(UNITS,), chars=SERVER_CHARS, embedding_dim=4, stamp=version_value
    )


@pytest.fixture(scope="session")
def toy_model_cache(tmp_path_factory: pytest.TempPathFactory) -> Callable[[float], Path]:
    """Build each version value once per session; tests copy the directory where they need it."""
    root = tmp_path_factory.mktemp("toy-models")
    built: dict[float, Path] = {}

    def get(version_value: float) -> Path:
        if version_value not in built:
            built[version_value] = build_toy_saved_model(root / f"v{version_value}", version_value)
        return built[version_value]

    return get


@pytest.fixture
def model_base(tmp_path: Path, toy_model_cache: Callable[[float], Path]) -> Callable[..., Path]:
    """`model_base(1, 2)`: a base path holding toy versions 1 and 2 (logits offset = version)."""

    def make(*versions: int, name: str = "toy") -> Path:
        base = tmp_path / name
        base.mkdir(exist_ok=True)
        for version in versions:
            shutil.copytree(toy_model_cache(float(version)), base / str(version))
        return base

    return make


@pytest.fixture
def start_server() -> Iterator[Callable[..., object]]:
    """`start_server(models=..., **config)`: an in-process server on 127.0.0.1, stopped afterwards."""
    from serving.server.config import ServerConfig
    from serving.server.model_server import start_server as start

    handles = []

    def make(**kwargs: object):
        kwargs.setdefault("port", 0)
        kwargs.setdefault("host", "127.0.0.1")
        kwargs.setdefault("poll_wait_seconds", 0.2)
        handle = start(ServerConfig(**kwargs))
        handles.append(handle)
        return handle

    yield make
    for handle in handles:
        handle.stop(grace=0)
