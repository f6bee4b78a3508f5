"""The generation client: sampling text from a served model over gRPC, or in process.

    from serving.client import GenerationClient
    with GenerationClient("localhost:8500", "charloom") as client:
        [result] = client.generate("ROMEO:", max_new_tokens=200, temperature=0.8, seed=1)

It learns everything from the served model (serving/contract.py) and imports nothing from
trainer/ or serving/server/: `generator` (the public API) drives `generation` (the loop) over a
`backends.SignatureBackend`, `grpc_backend` (TF Serving's PredictionService) or `local_backend`
(a SavedModel in this process).
"""

__all__ = ["GenerationClient", "TextGenerator"]


def __getattr__(name: str):
    """`from serving.client import GenerationClient` without importing gRPC and TensorFlow's protos
    for every light submodule (the CLI imports `serving.client.errors` at start-up)."""
    if name in __all__:
        from serving.client import generator

        return getattr(generator, name)
    raise AttributeError(f"module 'serving.client' has no attribute {name!r}")
