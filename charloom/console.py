"""What a user sees: charloom's own lines, progress and results, and real warnings; not the
TensorFlow, absl, CUDA, gRPC and Ray chatter of a CPU machine, unless ``--verbose``.

`quiet_environment` is the one definition of the environment that silences the C++ side; it is
applied to this process before TensorFlow is imported, and handed to Ray trial workers
(trainer/tuning/experiment.py), so they inherit the same settings.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import sys
from collections.abc import Iterator

VERBOSE_ENV = "CHARLOOM_VERBOSE"
# Third-party Python loggers that report internals (retracing notes, SavedModel tracing, Ray's
# start-up, jieba's dictionary): errors only, unless --verbose.
NOISY_LOGGERS = (
    "tensorflow",
    "absl",
    "h5py",
    "ray",
    "ray.tune",
    "ray.train",
    "jieba",
    "matplotlib",
    "aiohttp",
    "mlflow",
    "alembic",
)


def quiet_environment(verbose: bool) -> dict[str, str]:
    """Environment variables for this process and its workers."""
    if verbose:
        return {VERBOSE_ENV: "1", "TF_CPP_MIN_LOG_LEVEL": "0"}
    return {
        VERBOSE_ENV: "0",
        # C++ logs below FATAL: TensorFlow's and XLA's (the cuInit "error" of a CPU machine, the
        # CPU-feature banner) and absl's "All log messages before absl::InitializeLog()".
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "GRPC_VERBOSITY": "ERROR",
        "RAY_DEDUP_LOGS": "1",
        # Ray Tune's legacy reporter prints nothing at verbose=0 (the new one still prints
        # a configuration box and TensorBoard hints); charloom prints its own progress.
        "RAY_AIR_NEW_OUTPUT": "0",
    }


def is_verbose() -> bool:
    return os.environ.get(VERBOSE_ENV) == "1"


def configure(verbose: bool, log_level: str | None = None) -> None:
    """Set up this process: environment (before TensorFlow is imported), log levels and format."""
    for key, value in quiet_environment(verbose).items():
        if verbose or key not in os.environ or key == VERBOSE_ENV:
            os.environ[key] = value
    level = log_level or ("INFO" if verbose else "WARNING")
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        if verbose
        else "%(levelname)s %(name)s: %(message)s",
        force=True,
    )
    quiet_loggers(verbose)


@contextlib.contextmanager
def silenced_stderr() -> Iterator[None]:
    """File descriptor 2 to /dev/null: C++ libraries write there before any log setting applies."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` with the normal machinery and runs its first import with stderr
    silenced (see `quiet_tensorflow_import`); then leaves ``sys.meta_path``."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader

        class QuietLoader(importlib.abc.Loader):
            def create_module(self, spec):
                return loader.create_module(spec)

            def exec_module(self, module):
                with silenced_stderr():
                    loader.exec_module(module)

        spec.loader = QuietLoader()
        return spec


def quiet_tensorflow_import() -> None:
    """Whenever this process first imports TensorFlow (a command imports it only once its
    arguments are checked, so a mistake is reported at once), stderr is silenced meanwhile:
    loading its libraries logs CUDA probes ("Could not find cuda drivers", absl's "All log
    messages before absl::InitializeLog()") before TF_CPP_MIN_LOG_LEVEL takes effect. An import
    error still raises, after stderr is back."""
    if "tensorflow" not in sys.modules and not any(
        isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path
    ):
        sys.meta_path.insert(0, _QuietTensorFlowImport())


def quiet_loggers(verbose: bool) -> None:
    """Third-party loggers at ERROR (or left alone with --verbose); also run in trial workers."""
    if verbose:
        return
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


class ProgressPrinter:
    """Shows progress lines: on a terminal the status line is rewritten in place and events are
    printed above it; otherwise only events are printed, one per line (logs stay readable).
    Picklable (Ray stores its run's callbacks): the stream is looked up at each call."""

    def __init__(self) -> None:
        self._shown = 0  # characters of the status line now on the terminal

    def __call__(self, line: str, event: bool) -> None:
        stream = sys.stdout
        if not stream.isatty():
            if event:
                print(line, file=stream, flush=True)
            return
        clear = "\r" + " " * self._shown + "\r" if self._shown else ""
        if event:
            stream.write(f"{clear}{line}\n")
            self._shown = 0
        else:
            width = max(20, _terminal_width() - 1)
            shown = line[:width]
            stream.write(f"{clear}{shown}")
            self._shown = len(shown)
        stream.flush()

    def close(self) -> None:
        """End the status line (before printing anything else)."""
        if self._shown and sys.stdout.isatty():
            sys.stdout.write("\n")
            sys.stdout.flush()
        self._shown = 0


def _terminal_width() -> int:
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except OSError:
        return 100
