"""Run one signature of a loaded SavedModel on numpy inputs, with TF errors mapped to statuses.

A shape or dtype the model rejects is the client's mistake (INVALID_ARGUMENT, or the OpError's
own code); anything else unexpected propagates and becomes INTERNAL at the RPC boundary.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf

from serving.signature_plan import SignaturePlan
from serving.status import from_tf_error, invalid_argument


def run_signature(plan: SignaturePlan, inputs: Mapping[str, np.ndarray],
                  output_names: Sequence[str]) -> dict[str, np.ndarray]:
    """Call the signature's function and return the requested outputs as arrays."""
    try:
        outputs = plan.call({name: tf.constant(value) for name, value in inputs.items()})
    except tf.errors.OpError as exc:
        raise from_tf_error(exc) from exc
    except (TypeError, ValueError) as exc:  # argument binding: wrong shape or dtype for the signature
        raise invalid_argument(f"the model rejected the inputs: {exc}") from exc
    return {name: outputs[name].numpy() for name in output_names}
