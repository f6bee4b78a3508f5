"""Every third-party package the code imports is declared in pyproject.toml: the runtime
packages' in [project.dependencies] (or an optional extra), the tests' and benchmarks' there or
in the ``test`` extra. A package that arrives only through another's dependencies can vanish
with that package's next release."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"charloom", "trainer", "serving", "cluster", "bench", "tests", "k8s"}
RUNTIME = ("charloom", "trainer", "serving", "cluster")


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    extras = project["optional-dependencies"]
    optional = {_name(r) for name, reqs in extras.items() if name != "test" for r in reqs}
    return runtime | optional, runtime | optional | {_name(r) for r in extras["test"]}


def imported(folders) -> dict[str, set[str]]:
    """Top-level third-party modules imported anywhere under ``folders`` -> the files."""
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in FIRST_PARTY:
                        found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


def distributions(module: str, mapping: dict[str, list[str]]) -> set[str]:
    """The distributions providing ``module``, from importlib.metadata.packages_distributions()
    (a scan of every installed package: made once per test)."""
    return {d.lower().replace("_", "-") for d in mapping.get(module, [])}


@pytest.mark.parametrize(
    "folders, which", [(RUNTIME, "runtime"), (("tests", "bench", "k8s"), "test")]
)
def test_every_imported_package_is_declared(folders, which):
    runtime, everything = declared()
    allowed = runtime if which == "runtime" else everything
    missing = {}
    mapping = importlib.metadata.packages_distributions()
    for module, files in imported(folders).items():
        if module == "session_probe":  # a script the tests run by path
            continue
        dists = distributions(module, mapping)
        assert dists, f"{module} (imported by {sorted(files)[0]}) is not installed"
        if not dists & allowed:
            missing[module] = (sorted(dists), sorted(files)[:3])
    assert missing == {}, f"imported but not declared in pyproject.toml: {missing}"
