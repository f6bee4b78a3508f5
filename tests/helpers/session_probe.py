"""Run a SavedModel's signatures the way TF Serving does, in another TensorFlow: a standalone script.

    python session_probe.py SAVED_MODEL_DIR INPUTS.npz OUTPUTS.npz [SAVED_MODEL_DIR INPUTS OUTPUTS ...]

Executed by the interpreter of a virtual environment that holds the TensorFlow of the pinned
TF Serving image (tests/e2e/test_serving_runtime.py), so it imports nothing
but TensorFlow and numpy. INPUTS.npz keys are ``signature:alias``; strings come as bytes arrays
(dtype ``S``). The SavedModel is loaded with the TF1 loader into a Session (restore op, init op,
as TF Serving's LoadSavedModel does), each signature is run once by tensor name, and the outputs
are written with the same ``signature:alias`` keys; several SavedModels are run in one process
(one TensorFlow import), each in its own graph and Session. Prints the TensorFlow version.
"""

import sys

import numpy as np
import tensorflow as tf


def main(saved_model_dir: str, inputs_path: str, outputs_path: str) -> None:
    requests: dict[str, dict[str, np.ndarray]] = {}
    with np.load(inputs_path) as data:
        for key in data.files:
            signature, alias = key.split(":", 1)
            requests.setdefault(signature, {})[alias] = data[key]
    graph = tf.Graph()
    results = {}
    with tf.compat.v1.Session(graph=graph) as session:
        with graph.as_default():
            meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], saved_model_dir)
        for signature_name, inputs in requests.items():
            signature = meta_graph.signature_def[signature_name]
            feeds = {signature.inputs[alias].name: value for alias, value in inputs.items()}
            aliases = sorted(signature.outputs)
            values = session.run([signature.outputs[a].name for a in aliases], feed_dict=feeds)
            for alias, value in zip(aliases, values):
                value = np.asarray(value)
                results[f"{signature_name}:{alias}"] = (
                    value.astype("S") if value.dtype == object else value
                )
    np.savez(outputs_path, **results)
    print(tf.__version__, flush=True)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if not arguments or len(arguments) % 3:
        sys.exit(__doc__)
    for start in range(0, len(arguments), 3):
        main(*arguments[start : start + 3])
