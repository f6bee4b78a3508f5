"""Export: a trained model as a TensorFlow Serving version that serves the contract.

`publish` writes the next integer version atomically (`export_run`, `export_checkpoint`,
`export_saved_model`); `signatures` builds the five signatures of serving/contract.py around the
model; `sampling` is the contract's sampling rule in TensorFlow; `warmup` writes the requests TF
Serving replays before serving a version.
"""

from trainer.export.publish import (
    METADATA_FILE,
    METADATA_FORMAT,
    existing_versions,
    export_checkpoint,
    export_run,
    export_saved_model,
    model_metadata,
)

__all__ = [
    "METADATA_FILE",
    "METADATA_FORMAT",
    "existing_versions",
    "export_checkpoint",
    "export_run",
    "export_saved_model",
    "model_metadata",
]
