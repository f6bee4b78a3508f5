"""The suite's xdist grouping works with the installed pytest and pytest-xdist.

tests/conftest.py puts the tests sharing a module- or package-scoped fixture into one
``xdist_group``, so that under `make test`'s ``--dist loadgroup`` one worker builds the fixture
(a training run, an export, a server) once. When grouping stops working nothing fails: the
tests are spread over the workers and each builds the fixture again (pytest 9.2 did this
silently: pytest-dev/pytest-xdist#1386). This runs a small suite with the same hook and
options and checks where its tests ran.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a pytest run with two xdist workers: seconds

REPO = Path(__file__).resolve().parents[1]

CONFTEST = """\
from tests.conftest import pytest_collection_modifyitems  # noqa: F401 - the suite's grouping
"""
RECORD = """\
import os
import time

import pytest


def record(request):
    with open(os.environ["WHERE_TESTS_RAN"], "a", encoding="utf-8") as log:
        log.write(f"{request.node.name} {os.environ['PYTEST_XDIST_WORKER']}\\n")
    time.sleep(0.2)  # long enough for both workers to take some of the free tests
"""
SHARED = (
    RECORD
    + """

@pytest.fixture(scope="module")
def shared():
    return object()


@pytest.mark.parametrize("i", range(6))
def test_shared(shared, request, i):
    record(request)
"""
)
FREE = (
    RECORD
    + """

@pytest.mark.parametrize("i", range(6))
def test_free(request, i):
    record(request)
"""
)


def test_tests_sharing_a_module_fixture_run_on_one_worker(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (project / "test_shared.py").write_text(SHARED, encoding="utf-8")
    (project / "test_free.py").write_text(FREE, encoding="utf-8")
    where = tmp_path / "where.txt"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            "2",
            "--dist",
            "loadgroup",
            "--no-loadscope-reorder",
            "-p",
            "no:cacheprovider",
            "-q",
            str(project),
        ],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(REPO), "WHERE_TESTS_RAN": str(where)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ran = [line.split() for line in where.read_text(encoding="utf-8").splitlines()]
    shared_workers = {worker for name, worker in ran if name.startswith("test_shared")}
    assert len(ran) == 12
    assert len({worker for _, worker in ran}) == 2  # both workers took tests ...
    assert len(shared_workers) == 1, ran  # ... but one ran every test of the shared fixture
