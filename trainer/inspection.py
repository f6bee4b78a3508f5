"""`charloom data inspect`: what the model will see, computed by the real pipeline."""

from __future__ import annotations

import dataclasses

from serving.contract import describe_char
from trainer.config import TrainingConfig
from trainer.corpus import Corpus
from trainer.dataset import batches_per_epoch, split_ids, training_dataset
from trainer.vocabulary import Vocabulary, build


@dataclasses.dataclass(frozen=True)
class CorpusReport:
    corpus: Corpus
    vocabulary: Vocabulary
    config: TrainingConfig
    train_tokens: int
    validation_tokens: int
    train_batches: int
    validation_batches: int
    batch_shapes: tuple[tuple[int, ...], tuple[int, ...]]
    first_pair: tuple[str, str]

    def render(self, sample_chars: int = 250) -> str:
        c = self.config
        singles = [t for t in self.vocabulary.tokens if len(t) == 1]
        chars = "".join(ch if ch.isprintable() and not ch.isspace() else "" for ch in singles)
        if len(chars) > 200:
            chars = f"{chars[:200]}... ({len(chars) - 200:,} more)"
        special = [describe_char(ch) for ch in singles if not ch.isprintable() or ch.isspace()]
        words = [t for t in self.vocabulary.tokens if len(t) > 1]
        unit = "chars" if c.tokenizer == "char" else "tokens"
        lines = [
            f"corpus:            {self.corpus.source}",
            f"files:             {len(self.corpus.files)}",
            f"sha256 (text):     {self.corpus.sha256}",
            f"characters:        {len(self.corpus.text):,}",
            f"tokenizer:         {c.tokenizer}"
            + (
                f" (min_count {c.min_count}, max_vocab {c.max_vocab})"
                if c.tokenizer != "char"
                else ""
            ),
            f"vocabulary size:   {self.vocabulary.size}"
            + (f" ({len(singles):,} characters, {len(words):,} words)" if words else ""),
            f"characters:        {chars}",
            f"  whitespace/control: {', '.join(special) or 'none'}",
            *([f"words (first 20):  {' '.join(words[:20])}"] if words else []),
            f"split:             train {self.train_tokens:,} {unit} / validation {self.validation_tokens:,} "
            f"{unit} (tail {c.validation_fraction:.0%})",
            f"batches per epoch: train {self.train_batches:,} / validation {self.validation_batches:,} "
            f"(seq_len {c.seq_len}, batch_size {c.batch_size})",
            f"batch shapes:      input {self.batch_shapes[0]}, target {self.batch_shapes[1]}",
            f"first pair:        input  {self.first_pair[0]!r}",
            f"                   target {self.first_pair[1]!r}",
            "sample:",
            self.corpus.text[:sample_chars],
        ]
        return "\n".join(lines)


def inspect_corpus(corpus: Corpus, config: TrainingConfig) -> CorpusReport:
    vocab, ids = build(corpus.text, config.tokenizer, config.min_count, config.max_vocab)
    split = split_ids(ids, config.validation_fraction)
    train_batches = batches_per_epoch(len(split.train), config.seq_len, config.batch_size)
    val_batches = batches_per_epoch(len(split.validation), config.seq_len, config.batch_size)
    shapes: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())
    pair = ("", "")
    if train_batches:
        inputs, targets = next(
            iter(
                training_dataset(
                    split.train,
                    config.seq_len,
                    config.batch_size,
                    config.seed,
                    0,
                    1,
                    steps_per_epoch=1,
                )
            )
        )
        shapes = (tuple(inputs.shape), tuple(targets.shape))
        pair = (vocab.decode(inputs[0, :40].numpy()), vocab.decode(targets[0, :40].numpy()))
    return CorpusReport(
        corpus=corpus,
        vocabulary=vocab,
        config=config,
        train_tokens=len(split.train),
        validation_tokens=len(split.validation),
        train_batches=train_batches,
        validation_batches=val_batches,
        batch_shapes=shapes,
        first_pair=pair,
    )
