"""The toy models of the serving tests: tiny random GRU/LSTM models, exported by the real exporter.

Every toy is a `trainer.export` SavedModel with all five signatures of serving/contract.py, so
the server and the client are tested on exactly what production serves. Variations:

- ``CLIENT_CHARS`` (60 characters) for generation tests; ``sharpen`` scales the output layer so
  sampling is not uniform and top-k/top-p bite.
- ``stamp``: the output layer becomes constant (kernel 0, bias ``stamp``), so every logit of the
  version equals ``stamp`` whatever the input: server tests tell which version answered.
"""

from __future__ import annotations

from pathlib import Path

CLIENT_CHARS = "\n !',.:?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SERVER_CHARS = "abcde"  # the server tests' vocabulary: ids 0..4


def export_toy_model(base: Path, **options) -> Path:
    """Publish the toy model of ``options`` (`toy_export`'s keywords) as the next version under
    ``base``, by copy of the run's one export of it; its version directory."""
    from tests.helpers.export_cache import deploy_copy

    return deploy_copy(toy_export(**options), Path(base))


def toy_export(
    *,
    cell: str = "gru",
    units: tuple[int, ...] = (16, 12),
    chars: str = CLIENT_CHARS,
    embedding_dim: int = 8,
    seed: int = 0,
    sharpen: float = 4.0,
    stamp: float | None = None,
    words_from: str | None = None,
) -> Path:
    """The run's one export of this toy model, read-only and shared by every test
    (tests/helpers/export_cache.py): its weights depend on these arguments only.
    ``words_from``: a word model whose vocabulary is built from that text (jieba, min_count 2)."""
    from tests.helpers.export_cache import shared_export

    options = dict(cell=cell, units=tuple(units), chars=chars, embedding_dim=embedding_dim)
    options.update(seed=seed, sharpen=sharpen, stamp=stamp, words_from=words_from)
    return shared_export(
        f"toy {sorted(options.items())!r}", lambda fresh: _export(fresh, **options)
    )


def _export(
    base: Path,
    *,
    cell: str,
    units: tuple[int, ...],
    chars: str,
    embedding_dim: int,
    seed: int,
    sharpen: float,
    stamp: float | None,
    words_from: str | None,
) -> Path:
    import keras
    import numpy as np

    from trainer.config import TrainingConfig
    from trainer.export import export_saved_model
    from trainer.model import build_model
    from trainer.vocabulary import Vocabulary

    tokenizer = "char" if words_from is None else "word"
    vocabulary = (
        Vocabulary.from_text(chars)
        if words_from is None
        else Vocabulary.from_text(words_from, "word", min_count=2)
    )
    config = TrainingConfig(
        cell=cell,
        num_layers=len(units),
        units=units,
        embedding_dim=embedding_dim,
        tokenizer=tokenizer,
    )
    keras.utils.set_random_seed(seed)
    model = build_model(config, vocabulary.size)
    kernel, bias = model.get_layer("logits").get_weights()
    if stamp is None:
        model.get_layer("logits").set_weights([kernel * sharpen, bias])
    else:
        model.get_layer("logits").set_weights([np.zeros_like(kernel), np.full_like(bias, stamp)])
    return export_saved_model(model, config, vocabulary, Path(base))
