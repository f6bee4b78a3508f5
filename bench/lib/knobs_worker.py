"""One training-knob measurement in its own process (thread pools are fixed at TF start-up).

    python -m bench.lib.knobs_worker speed   --cell gru --units 384 --batch 64 --seq 100
        [--jit] [--mixed-precision] [--threads 2]
    python -m bench.lib.knobs_worker quality --cell gru --units 384 --batch 64 --seq 100 --lr 0.003 \
        --seconds 120 [--carry-state]

``speed``: warm training characters/s of `charloom train`'s model, optimizer and tf.data pipeline
(median of epochs 2+). ``quality``: bits per character on tiny Shakespeare's whole validation split
(windows of 100 from zero states, as charloom reports val_bpc) after training for a fixed wall
time, either as charloom trains (shuffled windows, states reset every batch) or as char-rnn
does (truncated BPTT: ``batch`` contiguous streams, each batch continuing the previous one's rows,
the final states carried into the next batch, a random offset per epoch). Prints ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

from bench.lib.training_worker import EpochTimer


def setup(args):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras

    from trainer.config import TrainingConfig
    from trainer.corpus import load_corpus
    from trainer.dataset import split_ids
    from trainer.vocabulary import Vocabulary

    keras.utils.set_random_seed(0)
    corpus = load_corpus("shakespeare")
    vocabulary = Vocabulary.from_text(corpus.text)
    split = split_ids(vocabulary.encode(corpus.text), 0.1)
    config = TrainingConfig(
        cell=args.cell,
        units=(args.units,),
        embedding_dim=64,
        batch_size=args.batch,
        seq_len=args.seq,
        learning_rate=args.lr,
        jit_compile=args.jit,
        mixed_precision=args.mixed_precision,
    )
    return config, vocabulary, split


def speed(args) -> dict:
    import keras

    from trainer.dataset import training_dataset
    from trainer.model import build_model
    from trainer.training import make_optimizer

    config, vocabulary, split = setup(args)
    model = build_model(config, vocabulary.size)
    model.compile(
        optimizer=make_optimizer(config),
        jit_compile=config.jit_compile,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    steps = max(4, round(args.chars_per_epoch / (args.batch * args.seq)))
    data = training_dataset(
        split.train, config.seq_len, config.batch_size, 0, 0, args.epochs, steps
    )
    timer = EpochTimer()
    model.fit(data, epochs=args.epochs, steps_per_epoch=steps, callbacks=[timer], verbose=0)
    per_epoch = [steps * args.batch * args.seq / s for s in timer.train_seconds]
    return {"chars_per_sec": statistics.median(per_epoch[1:]), "per_epoch": per_epoch}


def carrying_model(config, base):
    """The same layers and weights as `base`, with the RNN states as inputs and outputs."""
    import keras

    from trainer.model import EMBEDDING, LOGITS, rnn_layers, state_names, states_per_layer

    ids = keras.Input(batch_shape=(config.batch_size, config.seq_len), dtype="int32")
    states = [
        keras.Input(batch_shape=(config.batch_size, units)) for _, units in state_names(config)
    ]
    x, finals, k = base.get_layer(EMBEDDING)(ids), [], states_per_layer(config)
    for i, layer in enumerate(rnn_layers(base, config)):
        x, *final = layer(x, initial_state=states[i * k : (i + 1) * k])
        finals += final
        x = base.get_layer(f"dropout_{i}")(x)
    return keras.Model([ids, *states], [base.get_layer(LOGITS)(x), *finals])


def quality(args) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    from trainer.dataset import training_dataset, validation_dataset
    from trainer.model import build_model, zero_states
    from trainer.training import make_optimizer

    config, vocabulary, split = setup(args)
    base = build_model(config, vocabulary.size)
    model = carrying_model(config, base)
    optimizer = make_optimizer(config)

    @tf.function(jit_compile=config.jit_compile)
    def train_step(x, y, states):
        with tf.GradientTape() as tape:
            logits, *final = model([x, *states], training=True)
            loss = tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
            )
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss, final

    zeros = zero_states(config, config.batch_size)
    train = split.train.astype(np.int32)
    length = len(train) // config.batch_size
    streams = train[: length * config.batch_size].reshape(config.batch_size, length)
    rng = np.random.default_rng(0)

    def carried_batches():
        offset = int(rng.integers(0, config.seq_len))
        for t in range((length - offset - 1) // config.seq_len):
            a = offset + t * config.seq_len
            yield streams[:, a : a + config.seq_len], streams[:, a + 1 : a + config.seq_len + 1]

    started, steps, epoch, done = time.perf_counter(), 0, 0, False
    while not done:
        states = zeros
        batches = (
            carried_batches()
            if args.carry_state
            else training_dataset(
                split.train, config.seq_len, config.batch_size, 0, epoch, epoch + 1
            )
        )
        for x, y in batches:
            _, final = train_step(tf.constant(x), tf.constant(y), states)
            states = final if args.carry_state else zeros
            steps += 1
            if time.perf_counter() - started > args.seconds:
                done = True
                break
        epoch += 1
    trained = time.perf_counter() - started
    base.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    val_loss = base.evaluate(validation_dataset(split.validation, 100, 64), verbose=0)
    return {
        "steps": steps,
        "train_seconds": trained,
        "epochs": steps * config.batch_size * config.seq_len / len(train),
        "chars_per_sec": steps * config.batch_size * config.seq_len / trained,
        "val_bpc": val_loss / math.log(2),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("speed", "quality"))
    parser.add_argument("--cell", default="gru")
    parser.add_argument("--units", type=int, default=384)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seq", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--jit", action="store_true")
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--chars-per-epoch", type=int, default=160_000)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--carry-state", action="store_true")
    args = parser.parse_args()
    if args.what == "quality" and args.mixed_precision:
        # quality's hand-written loop applies gradients itself; Keras' loss scaling runs under fit
        parser.error(
            "--mixed-precision is measured by 'speed' only (model.fit applies the loss scaling)"
        )
    result = speed(args) if args.what == "speed" else quality(args)
    print("RESULT " + json.dumps({"args": vars(args), **result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
