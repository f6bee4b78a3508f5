"""Serving: the model server (`serving.server`), the generation client (`serving.client`), and what
they share: the export contract (`contract`), the tensor codec (`tensors`), the deployment
defaults (`defaults`), loading a SavedModel the way TF Serving does (`saved_model`) and the base
error (`errors`). Nothing here imports `trainer/`; the client imports nothing from the server.
"""
