"""Shared fixtures: an isolated corpus cache seeded from ../shared/data when it is there, toy exported
models (tests/helpers/toy_models.py), a fake TF Serving for client tests, and health waiting."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from concurrent import futures
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("CHARLOOM_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
SHARED_SHAKESPEARE = SHARED_DATA / "tinyshakespeare.txt"
SHARED_CORPORA = (
    "tinyshakespeare.txt",
    "zh-tang300.txt",
    "zh-fortunes.txt",
)  # built-in corpora's files

_WORDS = (
    "the king my lord and thou art not what shall be done to him that love "
    "in her eyes with all this night I have heard of your grace good sir"
).split()


def synthetic_text(n_chars: int, seed: int = 0) -> str:
    """Word-level noise with speakers and line breaks: learnable structure, no external data."""
    rng = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < n_chars:
        line = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 9)))
        chunk = f"{rng.choice(['KING', 'ROMEO', 'JULIET'])}:\n{line.capitalize()}.\n\n"
        out.append(chunk)
        size += len(chunk)
    return "".join(out)[:n_chars]


@pytest.fixture(autouse=True, scope="session")
def corpus_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test sees its own cache; the built-in corpora are seeded there when local copies exist."""
    cache = tmp_path_factory.mktemp("charloom-cache")
    os.environ["CHARLOOM_CACHE_DIR"] = str(cache)
    from trainer.corpus import seed_cache

    for name in SHARED_CORPORA:
        if (SHARED_DATA / name).is_file():
            seed_cache(SHARED_DATA / name)
    return cache


@pytest.fixture(autouse=True, scope="session")
def export_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's shared exports (tests/helpers/export_cache.py): under xdist, in the base
    directory every worker's own temporary directory sits in."""
    from tests.helpers.export_cache import CACHE_ENV

    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared-exports"
    os.environ[CACHE_ENV] = str(root)
    return root


@pytest.fixture(scope="session")
def shakespeare_path() -> Path:
    if not SHARED_SHAKESPEARE.is_file():
        pytest.skip(f"tiny Shakespeare not present at {SHARED_SHAKESPEARE}")
    return SHARED_SHAKESPEARE


@pytest.fixture(scope="session")
def tang300_path() -> Path:
    """zh-tang300.txt (2,579 distinct characters), or a skip naming where it was looked for."""
    path = SHARED_DATA / "zh-tang300.txt"
    if not path.is_file():
        pytest.skip(
            f"zh-tang300.txt not present at {path} (`charloom data seed` it, see docs/training.md)"
        )
    return path


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40k-character text file: tiny Shakespeare's head when present, else synthetic text."""
    path = tmp_path_factory.mktemp("corpus") / "small.txt"
    if SHARED_SHAKESPEARE.is_file():
        path.write_text(SHARED_SHAKESPEARE.read_text(encoding="utf-8")[:40_000], encoding="utf-8")
    else:
        path.write_text(synthetic_text(40_000), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def toy_gru_dir(tmp_path_factory) -> Path:
    from tests.helpers.toy_models import export_toy_model

    return export_toy_model(tmp_path_factory.mktemp("toy") / "toy-gru", cell="gru", units=(16, 12))


@pytest.fixture(scope="session")
def toy_lstm_dir(tmp_path_factory) -> Path:
    from tests.helpers.toy_models import export_toy_model

    return export_toy_model(tmp_path_factory.mktemp("toy") / "toy-lstm", cell="lstm", units=(16,))


@pytest.fixture
def start_fake_server(toy_gru_dir):
    """`start_fake_server(credentials=None, port=0)` -> (port, servicer); stopped after the test."""
    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from tests.helpers.fake_server import FakePredictionService

    servers = []

    def start(credentials=None, port: int = 0):
        servicer = FakePredictionService(toy_gru_dir)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(servicer, server)
        health_servicer = health.HealthServicer()
        health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        address = f"127.0.0.1:{port}"
        port = (
            server.add_secure_port(address, credentials)
            if credentials
            else server.add_insecure_port(address)
        )
        server.start()
        servers.append(server)
        return port, servicer

    yield start
    for server in servers:
        server.stop(grace=None)


@pytest.fixture
def fake_server(start_fake_server):
    """(target, servicer) of a FakePredictionService on a free loopback port."""
    port, servicer = start_fake_server()
    return f"127.0.0.1:{port}", servicer


@pytest.fixture
def unused_tcp_port() -> int:
    from tests.helpers.ports import free_port

    return free_port()


@pytest.fixture
def wait_for_health() -> Callable[..., None]:
    """`wait_for_health(port, timeout=60, service="", credentials=None, target_host="127.0.0.1")`."""
    from tests.helpers.servers import wait_healthy

    return wait_healthy


def _fixture_group(item) -> str | None:
    """The xdist group of a test sharing a fixture wider than itself: the package of a
    package-scoped fixture it uses, else its module when it uses a module-scoped one."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    scopes = {
        definition.scope: definition
        for definitions in info.name2fixturedefs.values()
        for definition in definitions
    }
    if "package" in scopes:
        return scopes["package"].baseid or item.nodeid.split("::")[0]
    if "module" in scopes:
        return item.nodeid.split("::")[0]
    return None


@pytest.hookimpl(tryfirst=True)  # before xdist names the groups
def pytest_collection_modifyitems(config, items):
    """Long tests first (e2e, then slow; in each, the groups below before single tests), so that
    under xdist the short ones fill the workers' tails instead of one long test or group running
    alone at the end. A stable sort: the order within each group is the collection order (the
    same in every worker, as xdist requires).

    The tests that share a module- or package-scoped fixture (an export, a training run, a
    server) form one xdist group, per module or per package: under ``--dist loadgroup`` one
    worker runs them, so the fixture is built once per run instead of once per worker."""
    for item in items:
        group = _fixture_group(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))

    def weight(item) -> tuple[int, bool]:
        tier = 0 if item.get_closest_marker("e2e") else 1 if item.get_closest_marker("slow") else 2
        single = item.get_closest_marker("xdist_group") is None  # groups build a fixture: first
        return tier, single

    items.sort(key=weight)
