"""serving/ never imports trainer/ (the SavedModel is the only contract), and the client imports
nothing of the server: checked for every module, in a fresh interpreter."""

import json
import pkgutil
import subprocess
import sys

import pytest

import serving

pytestmark = pytest.mark.slow  # a fresh interpreter importing every module

MODULES = sorted(info.name for info in pkgutil.walk_packages(serving.__path__, "serving."))


SERVER_OR_TRAINER = ("serving.server", "trainer")


@pytest.fixture(scope="module")
def loaded() -> dict[str, list[str]]:
    """In one new interpreter: the client modules are imported, then the gateway's, then every
    serving module; after each step, the loaded modules of serving/server/ or trainer/. A step's
    list is cumulative, so an empty one clears that step's modules (the earlier steps loaded
    none of them)."""
    steps = {
        "client": [m for m in MODULES if m.startswith("serving.client")],
        "gateway": [m for m in MODULES if m.startswith("serving.gateway")],
        "serving": MODULES,
    }
    code = (
        "import importlib, json, sys\n"
        "loaded = {}\n"
        f"for step, modules in {steps!r}.items():\n"
        "    for name in modules:\n"
        "        importlib.import_module(name)\n"
        f"    loaded[step] = sorted(m for m in sys.modules if m.startswith({SERVER_OR_TRAINER!r}))\n"
        "print(json.dumps(loaded))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_module_list_is_complete():
    assert {"serving.server.model_server", "serving.client.generator", "serving.contract"} <= set(
        MODULES
    )
    assert len(MODULES) > 25
    assert "serving.gateway.engine" in MODULES


def test_no_serving_module_imports_trainer(loaded):
    assert [m for m in loaded["serving"] if m.startswith("trainer")] == []


def test_client_modules_import_nothing_of_the_server(loaded):
    assert loaded["client"] == []


def test_gateway_modules_import_nothing_of_the_server(loaded):
    """The gateway is the client side of serving: serving/client/ and the contract only."""
    assert loaded["gateway"] == []
