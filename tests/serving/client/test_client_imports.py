import subprocess
import sys


def test_client_modules_do_not_import_trainer():
    code = ("import sys, serving.client, serving.local_backend, serving.generate_command, serving.readiness; "
            "leaked = sorted(m for m in sys.modules if m == 'trainer' or m.startswith('trainer.')); "
            "print(leaked); sys.exit(1 if leaked else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
