"""Serving test fixtures: tiny exported models, and running servers.

The toy model is exported by the real exporter and version-stamped (every logit of version v
equals v), so a test can tell which version answered without trusting the response's model_spec.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.toy_models import SERVER_CHARS

VOCAB = 5  # SERVER_CHARS: ids 0..4
UNITS = 3


@pytest.fixture(scope="session")
def toy_model_cache() -> Callable[[float], Path]:
    """``toy_model_cache(v)``: a one-layer GRU-3 toy over five characters whose every logit is
    ``v``, exported once per run (tests/helpers/toy_models.py); read-only, tests copy it."""
    from tests.helpers.toy_models import toy_export

    def get(version_value: float) -> Path:
        return toy_export(
            cell="gru", units=(UNITS,), chars=SERVER_CHARS, embedding_dim=4, stamp=version_value
        )

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
    """`start_server(models=..., **config)`: an in-process server on 127.0.0.1, stopped afterwards.

    Versions load without replaying their warmup records unless the test passes ``runtime``
    (tests/serving/server/test_warmup.py does): a replay runs every signature for the first time,
    ~1.3 s of CPU per load, for signatures most of these tests never call. Servers started
    without this fixture (the gateway's, the end-to-end tests', every `charloom serve` process)
    warm up as in production."""
    from serving.server.config import RuntimeOptions, ServerConfig
    from serving.server.model_server import start_server as start

    handles = []

    def make(**kwargs: object):
        kwargs.setdefault("port", 0)
        kwargs.setdefault("host", "127.0.0.1")
        kwargs.setdefault("poll_wait_seconds", 0.2)
        kwargs.setdefault("runtime", RuntimeOptions(enable_model_warmup=False))
        handle = start(ServerConfig(**kwargs))
        handles.append(handle)
        return handle

    yield make
    for handle in handles:
        handle.stop(grace=0)
