"""The one typed configuration of a training run: architecture plus training hyperparameters.

Validated once, at the edge (CLI flags, a YAML file, a Ray Tune sample), then passed down.
Built-in presets live in ``trainer/configs/*.yaml`` and can be named instead of a path.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from serving.contract import MAX_STATE_UNITS
from trainer.config_files import read_config_file
from trainer.errors import ConfigError

CELLS = ("gru", "lstm")
TOKENIZERS = ("char", "word")  # trainer/tokenizers.py
OPTIMIZERS = ("adam", "rmsprop")
MAX_LAYERS = 4
MAX_SEED = 2**32 - 1  # NumPy's and TensorFlow's seeds
# The largest value of each integer key (a larger one is a typo or cannot run): beyond these the
# trainer's memory check (trainer/memory.py) bounds what the sizes together may need.
INT_MAXIMA = {
    "units": MAX_STATE_UNITS,
    "embedding_dim": 16_384,
    "seq_len": 65_536,
    "batch_size": 1 << 20,
    "epochs": 1_000_000,
    "steps_per_epoch": 2**31 - 1,
    "validation_steps": 2**31 - 1,
    "early_stopping_patience": 1_000_000,
    "reduce_lr_patience": 1_000_000,
    "min_count": 2**31 - 1,
    "max_vocab": 10_000_000,
}
PRESETS_DIR = Path(__file__).parent / "configs"


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    # architecture
    cell: str = "gru"
    num_layers: int = 1
    units: tuple[int, ...] = (256,)
    embedding_dim: int = 64
    dropout: float = 0.0
    # data
    tokenizer: str = (
        "char"  # "char": one token per character; "word": jieba words (trainer/tokenizers.py)
    )
    min_count: int = 2  # word: a word needs this many occurrences to become a token
    max_vocab: int | None = (
        None  # word: at most this many word tokens (the most frequent); None = no cap
    )
    seq_len: int = 100  # tokens per training sequence
    batch_size: int = 64  # global: per-replica batch x replicas
    validation_fraction: float = 0.1
    # optimisation
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    clipnorm: float | None = 5.0  # global gradient norm; None disables clipping
    epochs: int = 10
    steps_per_epoch: int | None = None  # cap on batches per epoch; None = the whole split
    validation_steps: int | None = None  # cap on validation batches; None = the whole split
    early_stopping_patience: int | None = 3  # epochs without val_loss progress; None disables
    reduce_lr_patience: int | None = 2  # epochs before the LR is cut; None disables
    reduce_lr_factor: float = 0.5
    min_learning_rate: float = 1e-5
    jit_compile: bool = False  # XLA-compile the training step (bench/training_knobs.py measures it)
    mixed_precision: bool = (
        False  # train in float16 with float32 weights (GPUs); exports stay float32
    )
    seed: int = 0

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ConfigError("invalid training config: " + "; ".join(problems))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> TrainingConfig:
        if not isinstance(values, Mapping):
            raise ConfigError(
                f"a training config must be a mapping of keys to values, got {type(values).__name__}"
            )
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted((key for key in values if key not in fields), key=repr)
        if unknown:
            raise ConfigError(
                f"unknown config key(s): {', '.join(k[:80] if isinstance(k, str) else brief(k) for k in unknown[:10])} "
                f"(known: {', '.join(fields)})"
            )
        converted = {
            name: _convert(name, value, fields[name].default) for name, value in values.items()
        }
        num_layers = converted.get("num_layers", cls.num_layers)
        units = converted.get("units")
        if units is None:
            units = cls.units if "num_layers" not in converted else (cls.units[0],)
        if len(units) == 1 and isinstance(num_layers, int) and 1 < num_layers <= MAX_LAYERS:
            units = units * num_layers
        converted["units"] = units
        return cls(**converted)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["units"] = list(self.units)
        return data

    def replace(self, **changes: Any) -> TrainingConfig:
        return TrainingConfig.from_mapping({**self.to_dict(), **changes})


def _convert(name: str, value: Any, default: Any) -> Any:
    """Coerce YAML/JSON/Tune values to the field's type, with a message naming the key."""
    try:
        if name == "units":
            values = value if isinstance(value, (list, tuple)) else [value]
            return tuple(_as_int(v) for v in values)
        if value is None:
            return None
        if name in ("cell", "optimizer", "tokenizer"):
            if not isinstance(value, str):
                raise TypeError("expected a string")
            return value.lower()
        if isinstance(default, bool):
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                return value.strip().lower() == "true"
            if not isinstance(value, bool):
                raise TypeError("expected true or false")
            return value
        if isinstance(default, int) or name in (
            "steps_per_epoch",
            "validation_steps",
            "max_vocab",
            "early_stopping_patience",
            "reduce_lr_patience",
        ):
            return _as_int(value)
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"config key {name!r}: cannot use {brief(value)} ({brief(exc)})"
        ) from None


def _short_repr() -> reprlib.Repr:
    """A repr that shows at most 3 levels and 8 items of each (Python 3.11 takes no arguments)."""
    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict = 3, 8, 8
    short.maxstring = short.maxother = 60
    return short


_SHORT_REPR = _short_repr()  # never changed after this


def brief(value: Any, limit: int = 80) -> str:
    """A value as an error message may show it: at most `limit` characters (a config's value may be
    a huge number or a string an alias bomb expanded)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"an integer of {value.bit_length()} bits"
    text = str(value) if isinstance(value, BaseException) else _SHORT_REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _as_int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise TypeError("expected an integer")
    if isinstance(value, str):
        value = value.strip()
    return int(value)


def _problems(c: TrainingConfig) -> list[str]:
    p = []
    if c.cell not in CELLS:
        p.append(f"cell must be one of {', '.join(CELLS)}, got {brief(c.cell)}")
    if not 1 <= c.num_layers <= MAX_LAYERS:
        p.append(f"num_layers must be between 1 and {MAX_LAYERS}, got {brief(c.num_layers)}")
    elif len(c.units) != c.num_layers:
        p.append(f"units needs one value or one per layer ({c.num_layers}), got {list(c.units)}")
    if any(u <= 0 for u in c.units):
        p.append(f"units must be > 0, got {list(c.units)}")
    for name in ("embedding_dim", "seq_len", "batch_size", "epochs"):
        if getattr(c, name) <= 0:
            p.append(f"{name} must be > 0, got {getattr(c, name)}")
    for name, largest in INT_MAXIMA.items():
        values = c.units if name == "units" else (getattr(c, name),)
        too_large = [v for v in values if v is not None and v > largest]
        if too_large:
            p.append(f"{name} must be at most {largest}, got {brief(too_large[0])}")
    if not 0 <= c.seed <= MAX_SEED:
        p.append(f"seed must be in [0, {MAX_SEED}], got {brief(c.seed)}")
    for name in ("steps_per_epoch", "validation_steps"):
        if getattr(c, name) is not None and getattr(c, name) <= 0:
            p.append(f"{name} must be > 0 or null, got {getattr(c, name)}")
    for name in ("early_stopping_patience", "reduce_lr_patience"):
        if getattr(c, name) is not None and getattr(c, name) < 1:
            p.append(f"{name} must be >= 1 or null, got {getattr(c, name)}")
    if not 0.0 <= c.dropout < 1.0:
        p.append(f"dropout must be in [0, 1), got {c.dropout}")
    if not 0.0 < c.validation_fraction < 1.0:
        p.append(f"validation_fraction must be in (0, 1), got {c.validation_fraction}")
    if not (math.isfinite(c.learning_rate) and c.learning_rate > 0):
        p.append(f"learning_rate must be > 0, got {c.learning_rate}")
    if c.tokenizer not in TOKENIZERS:
        p.append(f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {brief(c.tokenizer)}")
    if c.min_count < 1:
        p.append(f"min_count must be >= 1, got {c.min_count}")
    if c.max_vocab is not None and c.max_vocab < 1:
        p.append(f"max_vocab must be >= 1 or null, got {c.max_vocab}")
    if c.optimizer not in OPTIMIZERS:
        p.append(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {brief(c.optimizer)}")
    if c.clipnorm is not None and not c.clipnorm > 0:
        p.append(f"clipnorm must be > 0 or null, got {c.clipnorm}")
    if not 0.0 < c.reduce_lr_factor < 1.0:
        p.append(f"reduce_lr_factor must be in (0, 1), got {c.reduce_lr_factor}")
    if not c.min_learning_rate >= 0:
        p.append(f"min_learning_rate must be >= 0, got {c.min_learning_rate}")
    return p


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_config(
    spec: str | Path | None, overrides: Mapping[str, Any] | None = None
) -> TrainingConfig:
    """Load a YAML config file or a preset name, apply ``overrides`` and validate."""
    values: dict[str, Any] = {}
    if spec:
        path = Path(spec)
        if not path.is_file() and (PRESETS_DIR / f"{spec}.yaml").is_file():
            path = PRESETS_DIR / f"{spec}.yaml"
        if not path.is_file():
            raise ConfigError(
                f"config {spec!r} is neither a file nor a preset ({', '.join(preset_names())})"
            )
        loaded = read_config_file(path, "config")
        if loaded is not None:
            if not isinstance(loaded, dict):
                raise ConfigError(f"{path} must contain a mapping of config keys")
            values.update(loaded)
    values.update(overrides or {})
    return TrainingConfig.from_mapping(values)
