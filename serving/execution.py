"""Run one signature of a loaded SavedModel on numpy inputs, with TF errors mapped to statuses.

A shape or dtype the model rejects is the client's mistake (INVALID_ARGUMENT, or the OpError's
own code); anything else unexpected propagates and becomes INTERNAL at the RPC boundary.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import tensorflow as tf

from serving.status import from_tf_error, invalid_argument


def run_signature(function: Any, inputs: Mapping[str, np.ndarray],
                  output_names: Sequence[str]) -> dict[str, np.ndarray]:
    """Call a concrete signature function and return the requested outputs as arrays."""
    try:
        tensors = {name: tf.constant(value) for name, value in inputs.items()}
        outputs = function(**tensors)
    except tf.errors.OpError as exc:
        raise from_tf_error(exc) from exc
    except (TypeError, ValueError) as exc:  # argument binding: wrong shape or dtype for the signature
        raise invalid_argument(f"the model rejected the inputs: {exc}") from exc
    return {name: outputs[name].numpy() for name in output_names}
