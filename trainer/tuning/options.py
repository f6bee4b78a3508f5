"""`charloom tune`'s options: validated once, saved with the experiment for --resume."""

from __future__ import annotations

import dataclasses
import io
import json

from trainer.config import MAX_SEED, brief
from trainer.errors import ConfigError, TrainerError

OPTIONS_FILE = "charloom-tune.json"
SCHEDULERS = ("asha", "pbt", "fifo")
SEARCH_ALGS = ("random", "optuna")


MAX_TIME_BUDGET_S = 30 * 86_400.0  # a month


@dataclasses.dataclass(frozen=True)
class TuneOptions:
    corpus: str
    corpus_sha256: str | None = None
    space: str | None = None
    num_samples: int = 4
    max_concurrent: int | None = None
    scheduler: str = "asha"
    search_alg: str = "random"
    grace_period: int = 1
    reduction_factor: int = 2
    max_epochs: int | None = None
    gpus_per_trial: float = 0.0
    cpus_per_trial: float = 1.0
    replicas: int | None = None
    time_budget_s: float | None = None
    storage_path: str = "ray_results"
    name: str | None = None
    address: str | None = None
    model_base_path: str | None = "models/charloom"
    max_failures: int = 2
    seed: int = 0
    mlflow_tracking_uri: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.num_samples < 1:
            problems.append(f"--num-samples must be >= 1, got {self.num_samples}")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            problems.append(f"--max-concurrent must be >= 1, got {self.max_concurrent}")
        if self.scheduler not in SCHEDULERS:
            problems.append(
                f"--scheduler must be one of {', '.join(SCHEDULERS)}, got {self.scheduler!r}"
            )
        if self.search_alg not in SEARCH_ALGS:
            problems.append(
                f"--search-alg must be one of {', '.join(SEARCH_ALGS)}, got {self.search_alg!r}"
            )
        if self.grace_period < 1:
            problems.append(f"--grace-period must be >= 1, got {self.grace_period}")
        if self.reduction_factor < 2:
            problems.append(f"--reduction-factor must be >= 2, got {self.reduction_factor}")
        if self.max_epochs is not None and self.max_epochs < 1:
            problems.append(f"--max-epochs must be >= 1, got {self.max_epochs}")
        if self.gpus_per_trial < 0 or self.cpus_per_trial <= 0:
            problems.append("--gpus-per-trial must be >= 0 and --cpus-per-trial > 0")
        if self.replicas is not None and self.replicas < 1:
            problems.append(f"--replicas must be >= 1, got {self.replicas}")
        if self.replicas and self.replicas > 1 and self.gpus_per_trial:
            problems.append(
                "--replicas splits a CPU into logical devices; with --gpus-per-trial each "
                "trial mirrors over its GPUs instead"
            )
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            problems.append(f"--time-budget-s must be > 0, got {self.time_budget_s}")
        if self.max_failures < 0:
            problems.append(f"--max-failures must be >= 0, got {self.max_failures}")
        if (
            self.mlflow_tracking_uri is not None
            and "://" not in self.mlflow_tracking_uri
            and self.mlflow_tracking_uri != "databricks"
        ):
            problems.append(
                f"--mlflow-tracking-uri must be a URI such as sqlite:///mlflow.db or "
                f"http://host:5000, got {self.mlflow_tracking_uri!r}"
            )
        for flag, value, largest in (
            ("--num-samples", self.num_samples, 100_000),
            ("--max-concurrent", self.max_concurrent, 10_000),
            ("--grace-period", self.grace_period, 1_000_000),
            ("--reduction-factor", self.reduction_factor, 1_000),
            ("--max-epochs", self.max_epochs, 1_000_000),
            ("--gpus-per-trial", self.gpus_per_trial, 1_024),
            ("--cpus-per-trial", self.cpus_per_trial, 4_096),
            ("--replicas", self.replicas, 1_024),
            ("--time-budget-s", self.time_budget_s, MAX_TIME_BUDGET_S),
            ("--max-failures", self.max_failures, 1_000),
        ):
            if value is not None and not value <= largest:  # NaN is not <= anything
                problems.append(f"{flag} must be at most {largest:.10g}, got {brief(value)}")
        if not 0 <= self.seed <= MAX_SEED:
            problems.append(f"--seed must be in [0, {MAX_SEED}], got {brief(self.seed)}")
        if problems:
            raise ConfigError("; ".join(problems))


def save_options(storage: str, name: str, options: TuneOptions) -> None:
    """Write the options beside Ray's experiment state (any filesystem pyarrow reads)."""
    import pyarrow.fs

    filesystem, root = pyarrow.fs.FileSystem.from_uri(storage)
    directory = f"{root.rstrip('/')}/{name}"
    filesystem.create_dir(directory, recursive=True)
    with filesystem.open_output_stream(f"{directory}/{OPTIONS_FILE}") as stream:
        stream.write(json.dumps(dataclasses.asdict(options), indent=1).encode("utf-8"))


def load_options(experiment_path: str, path: str) -> TuneOptions:
    """The options an experiment was started with (``path``: its resolved location)."""
    import pyarrow.fs

    filesystem, root = pyarrow.fs.FileSystem.from_uri(path)
    try:
        with filesystem.open_input_stream(f"{root.rstrip('/')}/{OPTIONS_FILE}") as stream:
            saved = json.load(io.BytesIO(stream.read()))
    except (FileNotFoundError, OSError):
        raise TrainerError(
            f"{experiment_path} is not a charloom tune experiment (no {OPTIONS_FILE})"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrainerError(
            f"{experiment_path}/{OPTIONS_FILE} is corrupted (not valid JSON: {exc})"
        ) from None
    known = {f.name for f in dataclasses.fields(TuneOptions)}
    if not isinstance(saved, dict) or set(saved) - known:
        unknown = sorted(set(saved) - known) if isinstance(saved, dict) else []
        raise TrainerError(
            f"{experiment_path}/{OPTIONS_FILE} is corrupted: not the options of a charloom "
            f"tune experiment" + (f" (unknown fields: {', '.join(unknown)})" if unknown else "")
        )
    try:
        return TuneOptions(**saved)
    except (TypeError, ValueError) as exc:
        raise TrainerError(f"{experiment_path}/{OPTIONS_FILE} is corrupted: {exc}") from None
