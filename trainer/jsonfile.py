"""JSON documents of runs, checkpoints and vocabularies: atomic writes, reads that name the damage,
and the UTC timestamps they carry."""

from __future__ import annotations

import datetime
import json
import os
import uuid
from pathlib import Path
from typing import Any

from trainer.durable import fsync_path
from trainer.errors import TrainerError


def write_json_atomic(path: Path, data: Any) -> None:
    """Write beside ``path`` and rename over it, so a killed process never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(data, indent=1, ensure_ascii=False))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


def read_json_object(path: Path, error: type[TrainerError], missing: str) -> dict:
    """A JSON object from ``path``; a missing file raises ``error(missing)``, a damaged one says so."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(missing) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path} is corrupted (not valid JSON: {exc})") from None
    if not isinstance(data, dict):
        raise error(f"{path} is corrupted: not a JSON object")
    return data


def utc_now() -> str:
    """Now, in UTC, to the second (ISO 8601): the ``created``/``updated`` fields."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
