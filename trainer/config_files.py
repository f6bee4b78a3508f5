"""Reading a user's YAML or JSON config file within bounds: its size is checked before it is read,
and YAML aliases are refused past a small number, so a "billion laughs" file of nested aliases
cannot expand into gigabytes wherever its value is walked or shown. Every problem is a
ConfigError naming the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from trainer.errors import ConfigError

MAX_CONFIG_BYTES = 1 << 20  # a training config or search space is a few hundred bytes
MAX_YAML_ALIASES = 64


class _AliasBoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a document with more than MAX_YAML_ALIASES aliases."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise yaml.YAMLError(
                    f"more than {MAX_YAML_ALIASES} aliases (*name): refused, as nested aliases "
                    "can expand a small file into gigabytes"
                )
        return super().compose_node(parent, index)


def read_config_file(path: Path, kind: str) -> Any:
    """The YAML (or, for a ``.json`` file, JSON) document in `path`; `kind` names it in errors."""
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{kind} {path} is {size} bytes, more than the {MAX_CONFIG_BYTES} a config may be"
            )
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{kind} {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {kind} {path}: {exc.strerror}") from None
    is_json = path.suffix == ".json"
    try:
        return json.loads(text) if is_json else yaml.load(text, Loader=_AliasBoundedLoader)  # noqa: S506 - a SafeLoader
    except (json.JSONDecodeError, yaml.YAMLError, RecursionError) as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else "nested too deeply"
        raise ConfigError(f"{path} is not valid {'JSON' if is_json else 'YAML'}: {first}") from None
