"""Search spaces: a YAML/JSON mapping of TrainingConfig keys to constants or distributions.

``choice`` samples uniformly, ``grid`` runs every value (times ``--num-samples``), ``uniform``,
``loguniform`` and ``randint`` (inclusive bounds) sample ranges.

Validated completely before Ray starts: unknown keys, empty choices, inverted or non-positive
log ranges, and any value TrainingConfig itself would reject each give one clear error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainer.config import TrainingConfig
from trainer.config_files import read_config_file
from trainer.errors import ConfigError

SPACES_DIR = Path(__file__).parent / "spaces"
DISTRIBUTIONS = ("choice", "grid", "uniform", "loguniform", "randint")
DEFAULT_SPACE = "quick"


def bundled_spaces() -> list[str]:
    """The names `--space` accepts besides a file: the bundled spaces/*.yaml."""
    return sorted(path.stem for path in SPACES_DIR.glob("*.yaml"))


@dataclasses.dataclass(frozen=True)
class Dimension:
    key: str
    kind: str  # one of DISTRIBUTIONS
    values: tuple[Any, ...]  # choices, or (low, high)


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """Searched dimensions plus constants; ``to_param_space`` turns it into Ray Tune's form."""

    dimensions: tuple[Dimension, ...]
    constants: Mapping[str, Any]
    source: str

    def to_param_space(self) -> dict[str, Any]:
        from ray import tune

        build = {
            "choice": lambda v: tune.choice(list(v)),
            "grid": lambda v: tune.grid_search(list(v)),
            "uniform": lambda v: tune.uniform(*v),
            "loguniform": lambda v: tune.loguniform(*v),
            "randint": lambda v: tune.randint(v[0], v[1] + 1),
        }  # inclusive high, like YAML readers expect
        space: dict[str, Any] = dict(self.constants)
        for dim in self.dimensions:
            space[dim.key] = build[dim.kind](dim.values)
        return space

    def max_epochs(self, default: int) -> int:
        """The most epochs any trial can run: ASHA's ``max_t`` and the table's denominator."""
        for dim in self.dimensions:
            if dim.key == "epochs":
                return int(max(dim.values))  # choices, grid values or a range's bounds
        return int(self.constants.get("epochs", default))

    def describe(self) -> list[str]:
        lines = [f"{d.key}: {d.kind} {list(d.values)}" for d in self.dimensions]
        return lines + [f"{k}: {v!r}" for k, v in self.constants.items()]


def _check_value(key: str, value: Any) -> None:
    """Let TrainingConfig judge a single value (units broadcast over num_layers like a real config)."""
    values = {key: value}
    if key == "num_layers":
        values["units"] = 8
    elif key == "units" and isinstance(value, (list, tuple)):
        values["num_layers"] = len(value)
    try:
        TrainingConfig.from_mapping(values)
    except ConfigError as exc:
        raise ConfigError(f"search space key {key!r}: value {value!r} is invalid: {exc}") from None


def _dimension(key: str, spec: Mapping[str, Any]) -> Dimension:
    if len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise ConfigError(
            f"search space key {key!r}: expected one of {{{', '.join(DISTRIBUTIONS)}}}: "
            f"..., got {dict(spec)!r}"
        )
    kind, values = next(iter(spec.items()))
    if not isinstance(values, (list, tuple)):
        raise ConfigError(f"search space key {key!r}: {kind} needs a list, got {values!r}")
    if kind in ("choice", "grid"):
        if not values:
            raise ConfigError(f"search space key {key!r}: {kind} list is empty")
        for value in values:
            _check_value(key, value)
        return Dimension(key, kind, tuple(values))
    if len(values) != 2 or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    ):
        raise ConfigError(
            f"search space key {key!r}: {kind} needs [low, high] numbers, got {values!r}"
        )
    low, high = values
    if not low < high:
        raise ConfigError(
            f"search space key {key!r}: {kind} range [{low}, {high}] is empty (low must be < high)"
        )
    if kind == "loguniform" and low <= 0:
        raise ConfigError(f"search space key {key!r}: loguniform needs low > 0, got {low}")
    if kind == "randint" and not all(float(v).is_integer() for v in values):
        raise ConfigError(f"search space key {key!r}: randint needs integer bounds, got {values!r}")
    for value in (low, high):
        _check_value(key, int(value) if kind == "randint" else value)
    return Dimension(key, kind, (low, high))


def parse_space(data: Any, source: str = "<mapping>") -> SearchSpace:
    if not isinstance(data, Mapping) or not data:
        raise ConfigError(f"search space {source} must be a non-empty mapping of config keys")
    known = {f.name for f in dataclasses.fields(TrainingConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"search space {source}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    dimensions, constants = [], {}
    for key, spec in data.items():
        if isinstance(spec, Mapping):
            dimensions.append(_dimension(key, spec))
        else:
            _check_value(key, spec)
            constants[key] = spec
    return SearchSpace(tuple(dimensions), constants, source)


def load_space(spec: str | Path | None) -> SearchSpace:
    """A YAML/JSON file, or the name of a bundled space (quick, full)."""
    spec = spec or DEFAULT_SPACE
    path = Path(spec)
    if not path.is_file() and (SPACES_DIR / f"{spec}.yaml").is_file():
        path = SPACES_DIR / f"{spec}.yaml"
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in SPACES_DIR.glob("*.yaml")))
        raise ConfigError(f"search space {spec!r} is neither a file nor a bundled space ({names})")
    return parse_space(read_config_file(path, "search space"), str(path))
