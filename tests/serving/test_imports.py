"""serving/ never imports trainer/ (the SavedModel is the only contract), and the client imports
nothing of the server: checked for every module, in fresh interpreters."""

import json
import pkgutil
import subprocess
import sys

import pytest

import serving

pytestmark = pytest.mark.slow  # fresh interpreters importing every module

MODULES = sorted(info.name for info in pkgutil.walk_packages(serving.__path__, "serving."))


def loaded_after_importing(modules: list[str], prefixes: tuple[str, ...]) -> list[str]:
    """The modules with one of ``prefixes`` that importing ``modules`` (in a new interpreter) loads."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({prefixes!r}))))"
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


def test_no_serving_module_imports_trainer():
    assert loaded_after_importing(MODULES, ("trainer",)) == []


def test_client_modules_import_nothing_of_the_server():
    client = [m for m in MODULES if m.startswith("serving.client")]
    assert loaded_after_importing(client, ("serving.server", "trainer")) == []


def test_gateway_modules_import_nothing_of_the_server():
    """The gateway is the client side of serving: serving/client/ and the contract only."""
    gateway = [m for m in MODULES if m.startswith("serving.gateway")]
    assert "serving.gateway.engine" in gateway
    assert loaded_after_importing(gateway, ("serving.server", "trainer")) == []
