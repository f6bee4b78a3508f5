"""A SavedModel's signatures called the way TF Serving calls them: in a Session, by tensor name."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from serving.saved_model import SessionBundle


class SessionSignatures:
    """``model["prefill"](input_ids=..., lengths=..., **states)`` -> dict of numpy outputs."""

    def __init__(self, path: Path) -> None:
        self.bundle = SessionBundle(Path(path))

    def __getitem__(self, name: str):
        signature = self.bundle.signature_defs[name]

        def call(**inputs) -> dict[str, np.ndarray]:
            feeds = {signature.inputs[k].name: np.asarray(v) for k, v in inputs.items()}
            aliases = sorted(signature.outputs)
            values = self.bundle.run(feeds, [signature.outputs[a].name for a in aliases])
            return dict(zip(aliases, values))

        return call

    def close(self) -> None:
        self.bundle.close()
