"""Pipeline benchmark: batches/s of the tf.data pipeline alone vs training steps/s of a model.

    .venv/bin/python -m bench.pipeline                 # the `tiny` preset; --config for another
    .venv/bin/python -m bench.pipeline --quick

If the pipeline produces batches much faster than the model consumes them, input is never the
bottleneck. Writes bench/results/pipeline.{json,md}.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from bench.lib.common import (
    machine_info,
    machine_line,
    markdown_table,
    print_machine,
    write_results,
)


def pipeline_batches_per_sec(dataset, batches: int) -> float:
    iterator = iter(dataset)
    for _ in range(20):  # warm: shuffle buffers, prefetch threads
        next(iterator)
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches / (time.perf_counter() - started)


def train_steps_per_sec(model, dataset, steps: int) -> float:
    model.fit(
        dataset, epochs=1, steps_per_epoch=10, shuffle=False, verbose=0
    )  # warm: trace and compile
    started = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
    return steps / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    info = machine_info()
    print_machine(info)

    import keras

    from trainer.config import load_config
    from trainer.corpus import load_corpus
    from trainer.dataset import split_ids, training_dataset
    from trainer.model import build_model
    from trainer.training import make_optimizer
    from trainer.vocabulary import Vocabulary

    config = load_config(args.config)
    corpus = load_corpus("shakespeare")
    vocabulary = Vocabulary.from_text(corpus.text)
    split = split_ids(vocabulary.encode(corpus.text), config.validation_fraction)
    runs = 1 if args.quick else 3
    pipeline_batches, train_steps = (200, 20) if args.quick else (2000, 100)

    def dataset():
        return training_dataset(
            split.train, config.seq_len, config.batch_size, config.seed, first_epoch=0, epochs=1000
        )  # endless for the measurement

    pipeline = [pipeline_batches_per_sec(dataset(), pipeline_batches) for _ in range(runs)]
    print("pipeline batches/s", pipeline, flush=True)
    keras.utils.set_random_seed(config.seed)
    model = build_model(config, vocabulary.size)
    model.compile(
        optimizer=make_optimizer(config),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    data = dataset()
    steps = [train_steps_per_sec(model, data, train_steps) for _ in range(runs)]
    print("train steps/s", steps, flush=True)

    p, s = statistics.median(pipeline), statistics.median(steps)
    results = {
        "machine": info,
        "config": config.to_dict(),
        "runs": runs,
        "quick": args.quick,
        "pipeline_batches_per_sec": p,
        "pipeline_runs": pipeline,
        "train_steps_per_sec": s,
        "train_runs": steps,
        "ratio": p / s,
    }
    chars = config.batch_size * config.seq_len
    markdown = "\n".join(
        [
            f"Config `{args.config}`: {config.cell.upper()} {list(config.units)}, batch {config.batch_size} x "
            f"seq_len {config.seq_len} ({chars:,} characters per batch); median of {runs} runs.",
            "",
            f"Machine: {machine_line(info)}",
            "",
            markdown_table(
                ("what", "batches/s", "characters/s"),
                [
                    (
                        "tf.data pipeline alone (shuffle, batch, split, prefetch)",
                        f"{p:,.0f}",
                        f"{p * chars:,.0f}",
                    ),
                    (
                        "one training step of the model (model.fit)",
                        f"{s:,.1f}",
                        f"{s * chars:,.0f}",
                    ),
                ],
            ),
            "",
            f"The pipeline delivers batches {p / s:,.0f}x faster than the model trains on them.",
        ]
    )
    write_results("pipeline", results, markdown, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
