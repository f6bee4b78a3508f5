"""The console's quiet TensorFlow import: TensorFlow's library-loading chatter never reaches the
user, whichever module imports it first and whenever, and a command that fails on its arguments
does not import it at all."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

CHATTER = ("absl::InitializeLog", "cuda drivers", "cuInit")
IMPORT_LIKE_THE_CLIENT = "import tensorflow.core.framework.tensor_pb2"  # TF Serving's protos


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_tensorflow_imported_later_by_any_module_is_quiet():
    loud = python(IMPORT_LIKE_THE_CLIENT)
    assert loud.returncode == 0
    if not any(word in loud.stderr for word in CHATTER):
        pytest.skip("this TensorFlow build logs nothing on import: nothing to silence")
    quiet = python(
        "from charloom.console import quiet_tensorflow_import\n"
        "quiet_tensorflow_import()\n"
        f"{IMPORT_LIKE_THE_CLIENT}\n"
        "import sys\n"
        "print('after', file=sys.stderr)\n"  # stderr works again once TensorFlow is in
    )
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "after\n"


def test_a_command_refused_on_its_arguments_never_imports_tensorflow(tmp_path):
    result = python(
        "import sys\n"
        "from charloom.cli import main\n"
        f"code = main(['export', '--run', {str(tmp_path / 'nope')!r}, "
        f"'--model-base-path', {str(tmp_path / 'models')!r}])\n"
        "print(code, 'tensorflow' in sys.modules)\n"
    )
    assert result.stdout.split() == ["2", "False"], result.stdout + result.stderr
    assert "does not exist" in result.stderr
