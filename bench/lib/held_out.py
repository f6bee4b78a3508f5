"""What the quality benchmarks measure of a trained model: bits per character on the whole
held-out split, and a sample of its text."""

from __future__ import annotations

from pathlib import Path


def held_out_bpc(checkpoint: str, corpus: str, seq_len: int | None = None) -> tuple[float, int]:
    """Bits per character of a checkpoint on ``corpus``' whole validation split (windows of
    ``seq_len`` tokens, default the checkpoint's own), and the characters that split holds."""
    import keras

    from trainer.bits_per_character import BitsPerCharacter
    from trainer.checkpoints import read_checkpoint
    from trainer.corpus import load_corpus
    from trainer.dataset import split_ids, validation_dataset
    from trainer.model import load_model

    ckpt = read_checkpoint(Path(checkpoint.removeprefix("file://")))
    model = load_model(ckpt)
    metric = BitsPerCharacter(ckpt.vocabulary.token_lengths)
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=[metric]
    )
    split = split_ids(
        ckpt.vocabulary.encode(load_corpus(corpus).text), ckpt.config.validation_fraction
    )
    windows = validation_dataset(split.validation, seq_len or ckpt.config.seq_len, 64)
    results = model.evaluate(windows, verbose=0, return_dict=True)
    characters = int(ckpt.vocabulary.token_lengths[split.validation].sum())
    return float(results["bpc"]), characters


def sample_text(saved_model: str, prompt: str, chars: int, temperature: float = 1.0) -> str:
    """``prompt`` and ``chars`` characters the export generates after it (seed 0)."""
    from serving.client.generator import TextGenerator

    with TextGenerator.from_saved_model(saved_model) as generator:
        [result] = generator.generate(prompt, max_new_tokens=chars, seed=0, temperature=temperature)
        return prompt + result.text
